"""``perpdex book`` shows the REST book, labelled so, while the WebSocket book is not ready (here:
nothing listens at the configured WebSocket URL), instead of waiting and giving up."""

from __future__ import annotations

import json
import time

import yaml
from typer.testing import CliRunner

from perpdex.cli.main import app
from tests.conftest import emulators_in_thread


def test_book_falls_back_to_rest_and_says_so(tmp_path):
    with emulators_in_thread(names=["lighter"]) as cluster:
        ep = cluster.endpoints["lighter"]
        cfg = tmp_path / "perpdex.yml"
        cfg.write_text(yaml.safe_dump({
            "sim": {"enabled": False},
            "exchanges": {"lighter": {"rest_url": ep["rest_url"], "ws_url": "ws://127.0.0.1:9/stream"}},
            "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}}))
        runner = CliRunner()
        started = time.monotonic()
        res = runner.invoke(app, ["book", "lighter", "BTC", "--config", str(cfg), "--once", "--json", "--levels", "3"])
        took = time.monotonic() - started
        assert res.exit_code == 0, res.output
        book = json.loads(res.output.strip().splitlines()[-1])
        assert book["source"] == "REST" and len(book["bids"]) == 3 and len(book["asks"]) == 3
        assert float(book["bids"][0][0]) < float(book["asks"][0][0])
        assert took < 14  # the WebSocket grace (3 s), not the old 15 s wait
        res = runner.invoke(app, ["book", "lighter", "BTC", "--config", str(cfg), "--once"], terminal_width=200)
        assert res.exit_code == 0 and "REST: WebSocket book not ready" in " ".join(res.output.split()), res.output
