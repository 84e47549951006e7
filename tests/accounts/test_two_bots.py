"""Two accounts' bots side by side: one emulator, one store, both cycling at the same time. Each
trades with its own account's credentials (the emulator books the fills to that account, not to
the sim's default one) and sees, counts and tags only its own positions."""

from __future__ import annotations

import asyncio
import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from perpdex.accounts import AccountRepository, Vault
from perpdex.app import exchange_settings
from perpdex.config import parse_config
from perpdex.exchanges import registry
from perpdex.exchanges.lighter.signer import SIM_ACCOUNT_INDEX, SIM_API_PRIVATE_KEY
from perpdex.sim.server import start_emulators
from perpdex.sim.venues.backpack.auth import SIM_API_KEY
from perpdex.storage import Store
from perpdex.strategies.funding_arb import FundingArbStrategy

EXCHANGES = ("backpack", "lighter")


def _credentials(n: int) -> dict[str, dict[str, object]]:
    seed = bytes([n]) * 32
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"backpack": {"api_key": base64.b64encode(public).decode(), "api_secret": base64.b64encode(seed).decode()},
            "lighter": {"account_index": 800000 + n, "api_key_index": 7,
                        "api_private_key": SIM_API_PRIVATE_KEY[:-2] + f"{n:02x}"}}


async def test_two_accounts_trade_side_by_side_each_seeing_only_its_own_positions(tmp_path):
    cfg = parse_config({
        "sim": {"enabled": True, "funding_time_scale": 3600},
        "exchanges": {name: {} for name in EXCHANGES},
        "strategy": {"size_usd": 1500, "min_net_apr": 1.0, "max_positions": 1, "limit_timeout_s": 1.0,
                     "min_volume_24h_usd": 1_000_000, "exit": {"max_age_s": 3600}},
        "storage": {"url": f"sqlite+aiosqlite:///{tmp_path / 'bots.db'}"},
    })
    store = Store(cfg.storage.url)
    await store.init()
    vault, _ = Vault.generate()
    repo = AccountRepository(store.sessions)
    for n, name in ((1, "alice"), (2, "bob")):
        for ex, fields in _credentials(n).items():
            await repo.set_credentials(name, ex, fields, vault)
    cluster = await start_emulators(list(EXCHANGES), funding_time_scale=3600)
    bots: dict[str, FundingArbStrategy] = {}
    try:
        for name in ("alice", "bob"):
            creds = await repo.credentials(name, vault)  # decrypted in memory, as run --account does
            clients = {ex: registry.client_class(ex)(exchange_settings(cfg, ex, cluster, creds[ex])) for ex in EXCHANGES}
            adapters = {ex: registry.funding_class(ex)(exchange_settings(cfg, ex, cluster)) for ex in EXCHANGES}
            bots[name] = FundingArbStrategy(cfg.strategy, clients, adapters, store, account=name)
        await asyncio.gather(*(b.start() for b in bots.values()))
        reports = await asyncio.gather(*(b.cycle() for b in bots.values()))  # at the same time
        assert [len(r.opened) for r in reports] == [1, 1]  # neither counted the other's against max_positions

        rows = await store.positions()
        assert sorted((p.account, p.status, p.symbol) for p in rows) == [("alice", "open", "0G"), ("bob", "open", "0G")]
        for name, bot in bots.items():
            assert [p.account for p in await bot._positions(["open", "opening", "closing"])] == [name]
        assert await store.positions(account=None) == []  # nothing untagged

        # the fills went to each account's own emulated accounts; the sim's default ones stayed idle
        backpack, lighter = cluster.sim.venues["backpack"], cluster.sim.venues["lighter"]
        for n in (1, 2):
            creds = _credentials(n)
            assert backpack.account(creds["backpack"]["api_key"]).positions["0G"].qty > 0  # long leg
            assert lighter.account(str(creds["lighter"]["account_index"])).positions["0G"].qty < 0  # short leg
        assert not backpack.account(SIM_API_KEY).fills and not lighter.account(str(SIM_ACCOUNT_INDEX)).fills

        # a second cycle each: open positions are synced by their own bot only
        await asyncio.gather(*(b.cycle() for b in bots.values()))
        for name in bots:
            [own] = await store.positions(["open"], account=name)
            assert len(await store.fills(own.id)) == 2
    finally:
        await asyncio.gather(*(b.close() for b in bots.values()), return_exceptions=True)
        await cluster.stop()
        await store.close()
