"""Panorama's control API, as boto3's ``panorama`` client and ``aws panorama`` speak it.

Served under ``/panorama`` (``PANORAMA_API_PREFIX``): ``boto3.client("panorama",
endpoint_url="http://<console>/panorama", region_name=...)`` works unchanged. The contract is
botocore's own service model (``botocore.session.get_session().get_service_model("panorama")``),
loaded at start: the routes, the members' names, locations and constraints all come from it.

- ``views.py``: the one view. SigV4 (``auth.py``), throttling (``throttle.py``), routing and
  parsing (``protocol.py``), the operation, serializing; errors in rest-json (``errors.py``).
- ``operations/``: one module per resource, each operation a function registered with
  ``@operation("DescribeDevice")`` (``registry.py``) that takes a :class:`Call` and the
  request's members as keyword arguments (names as in the model) and returns the output
  members as a dict (Python values: ``datetime`` for timestamps, ``bytes`` for blobs).
  They drive the same code paths as the console's pages and REST API.
- ``arns.py``, ``pagination.py``: ARNs and opaque ``NextToken`` values.
"""
