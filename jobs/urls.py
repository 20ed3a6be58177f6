from django.urls import path

from jobs import views

urlpatterns = [
    path("services/<int:service_id>/cron/", views.cron_jobs, name="service-cron"),
    path("cron/<int:job_id>/remove/", views.remove, name="cron-remove"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
]
