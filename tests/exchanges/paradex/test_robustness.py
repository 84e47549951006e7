"""Bad input never crashes: SBE/JSON decoders and the feed on arbitrary bytes (D11). The
emulator on arbitrary WebSocket text and REST bodies (F03): tests/sim/venues/paradex/test_robustness.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perpdex.exchanges.paradex import ParadexMarketFeed, schemas
from perpdex.sim.venues.paradex import sbe


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_sbe_decoder_raises_only_sbe_error(data: bytes) -> None:
    try:
        schemas.decode_sbe(data)
    except schemas.SbeError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=40))
def test_truncated_or_corrupted_book_frames_are_sbe_errors(cut: int, noise: bytes) -> None:
    frame = sbe.encode_book("ETH-USD-PERP", 7, 1, 1, [(3900.01, 1.5), (3900.0, 2.0)], [(3900.02, 0.5)])
    for bad in (frame[:cut] if cut < len(frame) else frame[:-1], frame[:20] + noise):
        try:
            schemas.decode_sbe(bad)
        except schemas.SbeError:
            pass


async def test_feed_survives_arbitrary_frames() -> None:
    feed = ParadexMarketFeed("ws://127.0.0.1:1/v1")
    feed.catalog.add("ETH-USD-PERP")
    feed.state("ETH")
    samples = [b"", b"{", b"[]", b"null", b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"order_book.ETH-USD-PERP.deltas","data":{"market":"ETH-USD-PERP"}}}',
               b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"bbo.ETH-USD-PERP","data":{"market":"ETH-USD-PERP","bid":"x"}}}',
               b'{"jsonrpc":"2.0","method":"subscription","params":{"channel":"order_book.ETH-USD-PERP.deltas","data":{"market":"ETH-USD-PERP","seq_no":1,"inserts":[{"side":"UP","price":"1","size":"1"}]}}}',
               b"\x00\x01\x02", bytes(range(256))]
    errors = 0
    try:
        for s in samples:
            try:
                feed.handle_frame(s)
            except Exception:  # noqa: BLE001 - what the base class logs and drops
                errors += 1
        assert errors == len(samples)
        assert not feed.is_ready("ETH")
    finally:
        await feed.close()
