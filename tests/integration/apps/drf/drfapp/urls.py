from django.urls import path

from drfapp.views import ItemList, WhoAmI

urlpatterns = [
    path("api/items/", ItemList.as_view()),
    path("api/whoami/", WhoAmI.as_view()),
]
