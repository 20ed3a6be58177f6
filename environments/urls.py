from django.urls import path

from environments import history_views, views

urlpatterns = [
    path("new/", views.new_environment, name="environment-new"),
    path("<int:environment_id>/", views.environment_detail, name="environment"),
    path("<int:environment_id>/status/", views.environment_status, name="environment-status"),
    path("<int:environment_id>/history/", history_views.history, name="environment-history"),
    path("<int:environment_id>/deploy/", views.deploy_into, name="environment-deploy"),
    path("<int:environment_id>/delete/", views.delete_environment, name="environment-delete"),
    path("<int:environment_id>/members/", views.add_member, name="environment-member-add"),
    path(
        "<int:environment_id>/members/<int:membership_id>/remove/",
        views.remove_member,
        name="environment-member-remove",
    ),
    path("<int:environment_id>/variables/", views.set_variable, name="environment-variable-set"),
    path("<int:environment_id>/variables/unset/", views.unset_variable, name="environment-variable-unset"),
]
