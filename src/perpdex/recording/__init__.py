"""Record what the market feeds receive and replay it through the same feed code.

* :mod:`.format`: the file format (zstd blocks of CRC-checked, length-prefixed records);
* :mod:`.writer`: the bounded, threaded writer with rotation and a manifest;
* :mod:`.tap`: the recording tap under a feed (an ``aiohttp.ClientSession`` drop-in);
* :mod:`.transport`: the replay transport (the same drop-in, served from a recording);
* :mod:`.record` / :mod:`.replay`: the ``perpdex record`` / ``perpdex replay`` drivers.

See docs/RECORDING.md.
"""
