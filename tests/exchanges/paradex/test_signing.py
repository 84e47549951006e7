"""Fast Starknet signing: same message hash and signature as ccxt 4.5.90, signature verifies."""

from __future__ import annotations

import random

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.exchange import Exchange
from ccxt.static_dependencies.starkware.crypto.fast_pedersen_hash import pedersen_hash as ccxt_pedersen
from ccxt.static_dependencies.starkware.crypto.signature import private_to_stark_key

from perpdex.exchanges.paradex import signer

PK = 0x3C1E9550E66958296D11B60F8E8E7A7AD990D07FA65D5F7652C4A6C87D4E3CC
ADDRESS = "0x49ddd7a564c978f6e4089ff8355b56a42b7e2d48ba282cb5aad60f04bea0ec3"
DOMAIN = {"name": "Paradex", "chainId": "PRIVATE_SN_PARACLEAR_MAINNET", "version": 1}
ORDER_TYPES = {"Order": [{"name": n, "type": "felt"} for n in ("timestamp", "market", "side", "orderType", "size", "price")]}


def test_pedersen_matches_ccxt_on_random_and_edge_inputs():
    rng = random.Random(5)
    cases = [(0, 0), (1, 2), (signer.P - 1, signer.P - 1), (1 << 248, (1 << 248) - 1)]
    cases += [(rng.randrange(signer.P), rng.randrange(signer.P)) for _ in range(6)]
    for a, b in cases:
        assert signer.pedersen(a, b) == ccxt_pedersen(a, b)
    with pytest.raises(ValueError):
        signer.pedersen(signer.P, 0)


@pytest.mark.parametrize("chain", ["PRIVATE_SN_PARACLEAR_MAINNET", "PRIVATE_SN_POTC_SEPOLIA"])
def test_order_hash_and_signature_equal_ccxt_and_verify(chain):
    domain = dict(DOMAIN, chainId=chain)
    msg = {"timestamp": 1718000000123, "market": "0x4254432d5553442d50455250", "side": "2",
           "orderType": "0x4c494d4954", "size": "100000", "price": "6000050000000"}
    ours = signer.encode_structured_data(domain, ORDER_TYPES, msg, ADDRESS)
    theirs = Exchange.starknet_encode_structured_data(domain, ORDER_TYPES, msg, ADDRESS)
    assert ours == theirs
    sig = signer._ccxt_sign(ours, hex(PK))
    assert sig == Exchange.starknet_sign(theirs, hex(PK))
    r, s = signer.parse_signature(sig)
    pub = private_to_stark_key(PK)
    assert signer.public_key(PK) == pub
    assert signer.verify(ours, r, s, pub)
    assert not signer.verify(ours + 1, r, s, pub)
    assert not signer.verify(ours, r, s, signer.public_key(PK + 1))
    # paradex-py writes decimal
    assert signer.parse_signature(f'["{r}","{s}"]') == (r, s)


def test_auth_request_hash_equals_ccxt():
    types = {"Request": [{"name": n, "type": "felt"} for n in ("method", "path", "body", "timestamp", "expiration")]}
    msg = {"method": "POST", "path": "/v1/auth", "body": "", "timestamp": 1718000000, "expiration": 1718000180}
    assert signer.encode_structured_data(DOMAIN, types, msg, ADDRESS) == \
        Exchange.starknet_encode_structured_data(DOMAIN, types, msg, ADDRESS)


async def test_installed_on_ccxt_instance_signs_orders_identically():
    config = {"starknet_chain_id": "PRIVATE_SN_PARACLEAR_MAINNET", "l1_chain_id": "1"}
    account = {"privateKey": hex(PK), "publicKey": hex(private_to_stark_key(PK)), "address": ADDRESS}
    plain = ccxt_async.paradex({"options": {"systemConfig": dict(config), "paradexAccount": dict(account)}})
    fast = signer.install(ccxt_async.paradex({"options": {"systemConfig": dict(config), "paradexAccount": dict(account)}}))
    try:
        req = {"market": "ETH-USD-PERP", "side": "BUY", "type": "MARKET", "size": "0.25"}
        # same second -> same timestamp; retry on the rare second boundary
        for _ in range(3):
            a = await plain.sign_order_request(dict(req))
            b = await fast.sign_order_request(dict(req))
            if a["signature_timestamp"] == b["signature_timestamp"]:
                break
        assert a == b
        r, s = signer.parse_signature(b["signature"])
        h = signer.encode_structured_data(
            {"name": "Paradex", "chainId": config["starknet_chain_id"], "version": 1}, ORDER_TYPES,
            {"timestamp": b["signature_timestamp"], "market": "ETH-USD-PERP", "side": "1", "orderType": "MARKET",
             "size": "25000000", "price": "0"}, ADDRESS)
        assert signer.verify(h, r, s, private_to_stark_key(PK))
        # the class is untouched
        assert ccxt_async.paradex.starknet_sign is Exchange.starknet_sign
    finally:
        await plain.close()
        await fast.close()


def test_bad_inputs_raise_value_error_or_return_false():
    with pytest.raises(ValueError):
        signer.felt("x" * 40)
    with pytest.raises(ValueError):
        signer.parse_signature('["0x1"]')
    assert not signer.verify(1, 0, 1, 5)
    assert not signer.verify(1, 1, 1, 2)  # not a curve x coordinate or wrong key


def test_signatures_equal_ccxt_for_random_keys_and_hashes():
    rng = random.Random(11)
    for _ in range(12):
        pk = rng.randrange(1, signer.N)
        h = rng.randrange(1 << (rng.choice([200, 248, 250, 251])))
        assert signer._ccxt_sign(h, hex(pk)) == Exchange.starknet_sign(h, hex(pk))
        r, s = signer.sign(h, pk)
        assert signer.verify(h, r, s, signer.public_key(pk))
