from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.plan, name="plan"),
    path("checkout/done/", views.checkout_done, name="checkout-done"),
    path("checkout/<slug:slug>/", views.checkout, name="checkout"),
    path("portal/", views.portal, name="portal"),
]
