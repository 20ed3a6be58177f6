"""A service's address, its custom domains and its access log (linked from the service page)."""

from django.urls import path

from ingress import views

urlpatterns = [
    path("services/<int:service_id>/domains/", views.service_ingress, name="service-ingress"),
    path("services/<int:service_id>/domains/add/", views.add_domain, name="domain-add"),
    path("domains/<int:domain_id>/check/", views.check_domain, name="domain-check"),
    path("domains/<int:domain_id>/remove/", views.remove_domain, name="domain-remove"),
]
