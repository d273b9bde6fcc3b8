"""Shared route dependencies."""

from typing import Annotated

from fastapi import Depends, Request

from ..engine import Engine


def _engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(_engine)]
