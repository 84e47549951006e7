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
