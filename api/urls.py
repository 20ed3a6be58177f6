from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import device_views, errors, token_views, views_audit
from api import views_deployments as d
from api import views_domains as domains
from api import views_environments as e
from api import views_jobs as j
from api import views_services as s
from api.views_processes import ServiceProcesses, ServiceScale

_SERVICE = "services/<int:service_id>/"
_ENVIRONMENT = "environments/<int:environment_id>/"
_DEPLOYMENT = "deployments/<int:deployment_id>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("tokens/", token_views.tokens, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", token_views.revoke, name="api-token-revoke"),
    path("device/", device_views.start, name="api-device"),
    path("device/token/", device_views.token, name="api-device-token"),
    path("whoami/", d.Whoami.as_view(), name="api-whoami"),
    path("environments/", e.EnvironmentList.as_view(), name="api-environments"),
    path(_ENVIRONMENT, e.EnvironmentDetail.as_view(), name="api-environment"),
    path(_ENVIRONMENT + "members/", e.MemberList.as_view(), name="api-members"),
    path(_ENVIRONMENT + "members/<int:membership_id>/", e.MemberDetail.as_view(), name="api-member"),
    path(_ENVIRONMENT + "variables/", e.EnvironmentVariables.as_view(), name="api-environment-variables"),
    path(
        _ENVIRONMENT + "variables/<str:key>/",
        e.EnvironmentVariable.as_view(),
        name="api-environment-variable",
    ),
    path("services/", s.ServiceList.as_view(), name="api-services"),
    path("services/upload/", s.ServiceUpload.as_view(), name="api-service-upload"),
    path(_SERVICE, s.ServiceDetail.as_view(), name="api-service"),
    path(_SERVICE + "processes/", ServiceProcesses.as_view(), name="api-service-processes"),
    path(_SERVICE + "scale/", ServiceScale.as_view(), name="api-service-scale"),
    *[
        path(
            _SERVICE + f"{control}/", s.ServiceAction.as_view(control=control), name=f"api-service-{control}"
        )
        for control in ("redeploy", "stop", "start", "restart")
    ],
    path(_SERVICE + "rollback/", s.ServiceRollback.as_view(), name="api-service-rollback"),
    path(_SERVICE + "promote/", s.ServicePromote.as_view(), name="api-service-promote"),
    path(_SERVICE + "deployments/", s.ServiceDeployments.as_view(), name="api-service-deployments"),
    path(_SERVICE + "health-events/", s.ServiceHealthEvents.as_view(), name="api-service-health-events"),
    path(_SERVICE + "variables/", s.ServiceVariables.as_view(), name="api-service-variables"),
    path(_SERVICE + "variables/<str:key>/", s.ServiceVariable.as_view(), name="api-service-variable"),
    path(_SERVICE + "domains/", domains.ServiceDomains.as_view(), name="api-service-domains"),
    path(_SERVICE + "domains/<str:name>/", domains.ServiceDomain.as_view(), name="api-service-domain"),
    path(
        _SERVICE + "domains/<str:name>/check/",
        domains.ServiceDomainCheck.as_view(),
        name="api-service-domain-check",
    ),
    path(_SERVICE + "logs/", s.ServiceLogs.as_view(), name="api-service-logs"),
    path(_SERVICE + "logs/follow/", s.ServiceLogsFollow.as_view(), name="api-service-logs-follow"),
    path(_SERVICE + "run/", j.ServiceRun.as_view(), name="api-service-run"),
    path(_SERVICE + "cron/", j.ServiceCronJobs.as_view(), name="api-service-cron"),
    path("cron/<int:job_id>/", j.CronJobDetail.as_view(), name="api-cron-job"),
    path("cron/<int:job_id>/runs/", j.CronJobRuns.as_view(), name="api-cron-job-runs"),
    path("runs/<int:run_id>/", j.RunDetail.as_view(), name="api-run"),
    path("runs/<int:run_id>/log/follow/", j.RunLogFollow.as_view(), name="api-run-log-follow"),
    path("audit/", views_audit.EventList.as_view(), name="api-audit"),
    path("deployments/", d.DeploymentList.as_view(), name="api-deployments"),
    path(_DEPLOYMENT, d.DeploymentDetail.as_view(), name="api-deployment"),
    path(_DEPLOYMENT + "cancel/", d.DeploymentCancel.as_view(), name="api-deployment-cancel"),
    path(_DEPLOYMENT + "log/", d.DeploymentLog.as_view(), name="api-deployment-log"),
    path(_DEPLOYMENT + "log/follow/", d.DeploymentLogFollow.as_view(), name="api-deployment-log-follow"),
    # Any character, newlines too: a %0A in the path must not slip past to the HTML 404 page.
    re_path(r"^[\s\S]*$", errors.not_found),
]
