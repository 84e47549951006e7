"""What every emulated venue shares: :mod:`.wire` (JSON encoding and responses, number strings,
the error type of the dialects that answer ``(code, message, status)``) and :mod:`.streaming`
(the emulator base class: the engine subscription, the stream pump, the WebSocket serving loop
and ``close()``). A venue package writes only its dialect on top of these."""
