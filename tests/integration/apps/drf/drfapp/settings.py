"""A minimal Django REST framework project used as a real upstream behind weir: no database,
no sessions, JSON in and out."""
SECRET_KEY = "weir-integration-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "drfapp.urls"
WSGI_APPLICATION = "drfapp.wsgi.application"
INSTALLED_APPS = ["rest_framework"]
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
