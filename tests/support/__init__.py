"""The testing library every test (and bench/) shares, loaded as pytest plugins by the root
conftest.py; conftest.py files hold fixtures only.

Agent side, importing no Django (edge_agent's tests use these):
``paths`` (the repository, the shared media), ``ports`` (free ports), ``waiting`` (polling on
conditions, never guessed sleeps), ``cameras`` (the real RTSP server), ``agents`` (the
application supervisor and its fakes), ``tcp_proxy``.

Console side (Django): ``users`` (the cast of users and their clients), ``stack`` (the live
stack), ``browser`` (Chromium and signing in), ``storage`` (the asset store), ``devices``
(appliances as rows), ``link`` (a device link in-process), ``deploy`` (sample packages and
the deployment workflow), ``panorama`` (the Panorama API's helpers), ``appliances`` and
``agent_pieces`` (real agents against the live stack).
"""
