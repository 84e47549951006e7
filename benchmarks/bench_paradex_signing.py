"""Benchmark: Paradex order signing (Starknet typed-data hash + Stark ECDSA) per order.

Runs ccxt 4.5.90's own ``paradex.sign_order_request`` (the code path of ``create_order``) on an
instance with a preset system config and Stark account, first as shipped (pure-Python Pedersen,
~18 hashes of full field elements per order), then with perpdex's fast signer installed on the
instance (``perpdex.exchanges.paradex.signer.install``: windowed precomputed Pedersen tables,
cached domain hash, table-based ``k·G``). Both produce the identical signature.

Run: ``.venv/bin/python benchmarks/bench_paradex_signing.py``. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import platform
import time

import ccxt.async_support as ccxt_async  # type: ignore[import-untyped]

from perpdex.exchanges.paradex import signer

PRIVATE_KEY = 0x5A1E5C0FFEE5EED0BADC0DE5F00DCAFE1234567890ABCDEF
CONFIG = {"starknet_chain_id": "PRIVATE_SN_PARACLEAR_MAINNET", "l1_chain_id": "1"}


def make_exchange(fast: bool) -> ccxt_async.paradex:
    ex = ccxt_async.paradex({"options": {
        "systemConfig": dict(CONFIG),
        "paradexAccount": {"privateKey": hex(PRIVATE_KEY), "publicKey": hex(signer.public_key(PRIVATE_KEY)),
                           "address": "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"},
    }})
    return signer.install(ex) if fast else ex


async def per_order_ms(fast: bool, n: int) -> tuple[float, str]:
    ex = make_exchange(fast)
    req = {"market": "BTC-USD-PERP", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "60000.5"}
    sig = ""
    try:
        await ex.sign_order_request(dict(req))  # warm-up (tables, caches)
        t0 = time.perf_counter()
        for i in range(n):
            out = await ex.sign_order_request(dict(req, price=str(60000 + i)))
            sig = out["signature"]
        return (time.perf_counter() - t0) * 1000 / n, sig
    finally:
        await ex.close()


async def main() -> None:
    signer.warm_up()
    slow = min([(await per_order_ms(False, 20))[0] for _ in range(3)])
    fast = min([(await per_order_ms(True, 200))[0] for _ in range(3)])
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.processor() or 'cpu'})")
    print(f"ccxt 4.5.90 as shipped : {slow:8.2f} ms per order")
    print(f"perpdex fast signer    : {fast:8.2f} ms per order  ({slow / fast:.0f}x)")


if __name__ == "__main__":
    asyncio.run(main())
