from django.urls import path

from deployments import service_views, settings_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("deploy/", views.deploy, name="deploy"),
    path("services/<int:service_id>/", service_views.service_detail, name="service"),
    path("services/<int:service_id>/redeploy/", service_views.redeploy, name="redeploy"),
    path("services/<int:service_id>/settings/", settings_views.settings_page, name="service-settings"),
    path("services/<int:service_id>/delete/", settings_views.delete, name="service-delete"),
    path(
        "services/<int:service_id>/apply-variables/",
        service_views.apply_variables,
        name="service-apply-variables",
    ),
    path("services/<int:service_id>/stop/", service_views.stop, name="service-stop"),
    path("services/<int:service_id>/start/", service_views.start, name="service-start"),
    path("services/<int:service_id>/scale/", service_views.scale, name="service-scale"),
    path("services/<int:service_id>/restart/", service_views.restart, name="service-restart"),
    path("services/<int:service_id>/promote/", service_views.promote, name="service-promote"),
    path(
        "services/<int:service_id>/rollback/<int:deployment_id>/",
        service_views.rollback,
        name="service-rollback",
    ),
    path("services/<int:service_id>/logs/", service_views.runtime_logs, name="service-logs"),
    path("services/<int:service_id>/variables/", service_views.set_variable, name="service-variable-set"),
    path(
        "services/<int:service_id>/variables/unset/",
        service_views.unset_variable,
        name="service-variable-unset",
    ),
    path("deployments/<int:deployment_id>/", views.deployment_detail, name="deployment"),
    path("deployments/<int:deployment_id>/log/", views.deployment_log, name="deployment-log"),
    path("deployments/<int:deployment_id>/cancel/", views.cancel, name="deployment-cancel"),
]
