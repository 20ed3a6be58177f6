from django.urls import path

from deployments import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("deploy/", views.deploy, name="deploy"),
    path("services/<int:service_id>/", views.service_detail, name="service"),
    path("services/<int:service_id>/redeploy/", views.redeploy, name="redeploy"),
    path("deployments/<int:deployment_id>/", views.deployment_detail, name="deployment"),
    path("deployments/<int:deployment_id>/log/", views.deployment_log, name="deployment-log"),
]
