"""The fast EIP-712 signing installed on ccxt's Aster instance: the same bytes and signature as
ccxt's own code, and one nonce per private request even within a millisecond."""

from __future__ import annotations

import ccxt.async_support as ccxt_async

from perpdex.exchanges.aster.auth import install_fast_signing, recover_signer
from perpdex.sim.venues.aster.auth import SIM_PRIVATE_KEY, split_signed

PARAMS = {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.025",
          "price": "3900.5"}


async def test_fast_signing_signs_what_ccxt_signs() -> None:
    plain = ccxt_async.aster({"privateKey": SIM_PRIVATE_KEY})
    fast = install_fast_signing(ccxt_async.aster({"privateKey": SIM_PRIVATE_KEY}))
    try:
        for ex in (plain, fast):
            ex.milliseconds = lambda: 1748310859508  # the protocol doc's fixed clock (§5.1 example)
        for method, path in (("POST", "order"), ("GET", "positionRisk")):
            a = plain.sign(path, ["fapiPrivate"], method, dict(PARAMS))
            b = fast.sign(path, ["fapiPrivate"], method, dict(PARAMS))
            plain.milliseconds = lambda: 1748310859509  # the fast one moved on by a millisecond
            assert a == b
        body = fast.sign("order", ["fapiPrivate"], "POST", dict(PARAMS))["body"]
        msg, sig = split_signed(body)
        assert recover_signer(msg, sig) == fast.eth_get_address_from_private_key(SIM_PRIVATE_KEY).lower()
        # other typed data and hashes still go to ccxt's own code
        assert fast.hash(b"abc", "sha256") == plain.hash(b"abc", "sha256")
        assert fast.hash(b"abc", "keccak") == plain.hash(b"abc", "keccak")
    finally:
        await plain.close()
        await fast.close()


async def test_private_requests_in_one_millisecond_get_distinct_nonces() -> None:
    fast = install_fast_signing(ccxt_async.aster({"privateKey": SIM_PRIVATE_KEY}))
    try:
        nonces = [int(fast.sign("order", ["fapiPrivate"], "POST", dict(PARAMS))["body"].split("&")[0].split("=")[1])
                  for _ in range(20)]
        assert nonces == sorted(set(nonces)) and len(nonces) == 20
        assert "milliseconds" not in vars(fast)  # the clock is ccxt's again after each request
    finally:
        await fast.close()
