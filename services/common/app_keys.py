"""Typed keys for what a service keeps on its aiohttp application."""

import asyncpg
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiohttp import web

from services.common.request_reply import Requester
from services.common.scan_store import ScanStore
from services.common.settings import ServiceSettings

SERVICE_NAME = web.AppKey("service_name", str)
REPLICA = web.AppKey("replica", str)
SETTINGS = web.AppKey("settings", ServiceSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
BROKER = web.AppKey("broker", AbstractRobustConnection)
CHANNEL = web.AppKey("channel", AbstractChannel)
REQUESTER = web.AppKey("requester", Requester)
SCAN_STORE = web.AppKey("scan_store", ScanStore)
