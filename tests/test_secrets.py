from perpdex.secrets import mask_mapping, redact, secret_values


def test_redact_removes_every_credential_value_case_insensitively():
    creds = {"private_key": "0xABCDEF0123456789", "nested": {"api_secret": "s3cr3t-value"}}
    secrets = secret_values(creds)
    msg = "failed for key 0xabcdef0123456789 and ABCDEF0123456789 with s3cr3t-value"
    out = redact(msg, secrets)
    assert "abcdef0123456789" not in out.lower() and "s3cr3t" not in out
    assert out.count("***") == 3


def test_mask_mapping_masks_secret_looking_keys_only():
    out = mask_mapping({"rest_url": "http://x", "credentials": {"private_key": "0x1", "account_index": 5}})
    assert out["rest_url"] == "http://x"
    assert out["credentials"]["private_key"] == "***"
    assert out["credentials"]["account_index"] == 5


def test_log_mask_hides_derived_tokens_jwts_and_secret_keyed_values():
    import logging

    from perpdex.secrets import install_log_mask, mask_in_logs

    logger = logging.getLogger("perpdex.test.mask")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_mask(logger)
        install_log_mask(logger)  # idempotent: one filter per handler
        assert len(handler.filters) == 1
        token = "1796614424:281474:4:5e04ce396065eeedbaebd1b63f59fa12a1ae697c"
        jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIweDEyMyJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
        mask_in_logs("Wx7-derived-by-signing-Q2")
        logger.warning("GET /api?account_index=281474, Request: %s", {"Authorization": token, "apiKeyIndex": "4"})
        logger.warning('POST /v1/auth, Response: 200 {"jwt_token":"%s"}', jwt)
        logger.warning('{"listenKey":"pqkNf0wBqUeGNlG2dJmX"} volume {"daily_base_token_volume":123456789.5}')
        logger.warning("subscribe frame: %s", ["account_all/1", "Wx7-derived-by-signing-Q2"])
        logger.warning("signed: /fapi/v3/order?symbol=BTCUSDT&signature=0x649aa166919309fbd713")
        text = "\n".join(records)
        for secret in (token, jwt, "pqkNf0wBqUeGNlG2dJmX", "Wx7-derived-by-signing-Q2", "0x649aa166919309fbd713"):
            assert secret not in text
        assert text.count("***") == 5
        # what is not a secret stays readable
        assert "'apiKeyIndex': '4'" in text and "account_index=281474" in text and "123456789.5" in text
    finally:
        logger.removeHandler(handler)
