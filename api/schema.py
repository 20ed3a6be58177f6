"""Additions drf-spectacular cannot infer: the error answers every operation may give."""

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, in plain words."},
        "fields": {"type": "object", "additionalProperties": True},
    },
    "required": ["error"],
}
_ERRORS = {
    "400": "The request was refused; `error` says why.",
    "401": "No token, or one that is revoked, expired or unknown.",
    "403": "Not allowed.",
    "404": "No such object, or one you may not see.",
    "405": "That method is not allowed here.",
    "406": "The Accept header asks for a type the API does not give.",
    "413": "The upload is too large.",
    "415": "The body's content type is not one the API reads.",
    "429": "Too many requests; Retry-After says how many seconds to wait.",
    "503": "The container engine did not answer.",
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR
    ref = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, description in _ERRORS.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": ref}}}
                )
    return result
