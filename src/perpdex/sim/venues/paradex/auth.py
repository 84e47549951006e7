"""The emulator's sim account on Paradex: its Starknet account, Stark key and Ethereum key
(docs/exchanges/paradex.md §5). Signature checks use :mod:`perpdex.exchanges.paradex.signer`."""

from __future__ import annotations

# A throw-away Stark key generated for the emulator only; it controls nothing anywhere else.
SIM_STARK_PRIVATE_KEY = "0x5f3b8a7c2d1e4f6a9b0c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7"
SIM_ACCOUNT = "0x3d7a9b1f0c2e4a6b8d0f1e3c5a7b9d2f4e6a8c0b1d3f5e7a9c2b4d6f8e0a1c3"
SIM_ETH_ADDRESS = "0x5e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
SIM_ETH_PRIVATE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
