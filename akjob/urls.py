"""``path("akjob/", include("akjob.urls"))``: the health and metrics views (akjob.views)."""

from django.urls import path

from akjob import views

app_name = "akjob"
urlpatterns = [
    path("health/", views.health, name="health"),
    path("metrics/", views.metrics, name="metrics"),
]
