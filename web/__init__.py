"""The citizen-facing web: the live ticket page behind the ticket's QR, the
messages that say when to come back, and the waiting room in a browser.

Pure parts (no I/O): :mod:`.secret` (ticket links), :mod:`.settings` (the
center file's ``[web]`` table), :mod:`.view` (what a citizen may see of the
queue), :mod:`.page` (the HTML), :mod:`.alerts` (when to send what, and the
gateway request). The thin shells: :mod:`.live` (inside the queue server:
the page's HTTP route, the citizen websocket channel, sending messages) and
:mod:`.serve` (the display and kiosk through textual-serve).
"""
