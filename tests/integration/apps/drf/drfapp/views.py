"""Model-free API: a fixed item list, a POST that echoes its JSON, and what the app saw of the
request (to check the headers weir adds)."""
from rest_framework.response import Response
from rest_framework.views import APIView

ITEMS = [{"id": 1, "name": "anvil"}, {"id": 2, "name": "weir"}]


class ItemList(APIView):
    def get(self, request):
        return Response({"items": ITEMS})

    def post(self, request):
        return Response({"created": request.data}, status=201)


class WhoAmI(APIView):
    def get(self, request):
        meta = request.META
        return Response({
            "host": request.get_host(),
            "remote_addr": meta.get("REMOTE_ADDR"),
            "x_forwarded_for": meta.get("HTTP_X_FORWARDED_FOR"),
            "x_forwarded_proto": meta.get("HTTP_X_FORWARDED_PROTO"),
            "x_forwarded_host": meta.get("HTTP_X_FORWARDED_HOST"),
            "x_request_id": meta.get("HTTP_X_REQUEST_ID"),
            "via": meta.get("HTTP_VIA"),
            "x_custom_key": meta.get("HTTP_X_CUSTOM_KEY"),
        })
