"""Textual side of the shared client: its callbacks as Textual messages.

Kept apart from :mod:`motcua.client`, which imports no Textual. An app calls
:func:`bridge` once and handles :class:`ClientEvent`, :class:`ClientConnection`
and :class:`ClientSynced` with ``@on(...)`` like any other message.
"""

from __future__ import annotations

import asyncio

from textual.app import App
from textual.message import Message

from .client import AuthError, Event, MotcuaClient


class ClientEvent(Message):
    """A server event reached the client (its mirror is already updated)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class ClientConnection(Message):
    """The connection to the server came up or went down."""

    def __init__(self, connected: bool) -> None:
        super().__init__()
        self.connected = connected


class ClientSynced(Message):
    """A fresh snapshot replaced the client's mirror (connect, reconnect, resync)."""


def bridge(app: App, client: MotcuaClient) -> MotcuaClient:
    """Post the client's callbacks to ``app`` as messages, and return the client."""
    client.on_event = lambda ev: app.post_message(ClientEvent(ev))
    client.on_status = lambda up: app.post_message(ClientConnection(up))
    client.on_welcome = lambda _state: app.post_message(ClientSynced())
    return client


async def exit_when_refused(app: App, task: asyncio.Task) -> None:
    """Wait on a client's connection task; leave the app (exit code 2) if the
    server refuses the device. The client retries network trouble forever and
    stops only on a refusal (token, role, counter), which nothing on screen
    could fix, so the command line says why instead."""
    try:
        await task
    except AuthError:
        app.exit(return_code=2)
