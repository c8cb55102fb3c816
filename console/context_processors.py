from django.http import HttpRequest

from core.models import Installation
from core.roles import role_of


def installation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    role = role_of(user)
    return {
        "installation": Installation.get() if role else None,
        "user_role": role,
    }
