"""/cli/: how to install the `m3o` command on a laptop, and the wheel itself."""

from django.http import FileResponse, Http404
from django.shortcuts import render

from api import cli_package


def install(request):
    site = request.build_absolute_uri("/").rstrip("/")
    context = {"site": site, "wheel_url": f"{site}/cli/{cli_package.wheel_name()}"}
    return render(request, "api/cli.html", context)


def download(request, filename: str):
    if filename != cli_package.wheel_name():
        raise Http404("No such file: the wheel is named " + cli_package.wheel_name())
    path = cli_package.wheel()
    return FileResponse(path.open("rb"), as_attachment=True, filename=filename)
