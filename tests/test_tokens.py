"""Bearer tokens: signature, expiry with a leeway for clock skew, and optional iss / aud."""

import time
from datetime import timedelta

import jwt
import pytest

from party_engine.tokens import InvalidToken, TokenRules, UserRole, issue_token, verify_token

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_a_token_names_its_user_and_role():
    principal = verify_token(TokenRules(SECRET), issue_token(SECRET, "u1", UserRole.HOST))
    assert (principal.user_id, principal.role) == ("u1", UserRole.HOST)


def test_another_secret_is_refused():
    with pytest.raises(InvalidToken):
        verify_token(TokenRules(SECRET), issue_token("x" * 40, "u1", UserRole.HOST))


def test_an_expiry_within_the_leeway_is_forgiven_and_beyond_it_refused():
    expired = issue_token(SECRET, "u1", UserRole.SHOPPER, ttl=timedelta(seconds=-10))
    assert verify_token(TokenRules(SECRET, leeway_seconds=30), expired).user_id == "u1"
    with pytest.raises(InvalidToken):
        verify_token(TokenRules(SECRET, leeway_seconds=0), expired)


def test_a_token_from_an_issuer_whose_clock_runs_ahead_is_forgiven_within_the_leeway():
    now = int(time.time())
    claims = {"sub": "u1", "role": "shopper", "iat": now + 10, "nbf": now + 10, "exp": now + 60}
    ahead = jwt.encode(claims, SECRET, algorithm="HS256")
    assert verify_token(TokenRules(SECRET, leeway_seconds=30), ahead).user_id == "u1"
    with pytest.raises(InvalidToken):
        verify_token(TokenRules(SECRET, leeway_seconds=0), ahead)


def test_issuer_and_audience_are_checked_when_set():
    rules = TokenRules(SECRET, issuer="auth.example", audience="party")
    good = issue_token(SECRET, "u1", UserRole.SHOPPER, issuer="auth.example", audience="party")
    assert verify_token(rules, good).user_id == "u1"
    for bad in (
        issue_token(SECRET, "u1", UserRole.SHOPPER),
        issue_token(SECRET, "u1", UserRole.SHOPPER, issuer="evil", audience="party"),
        issue_token(SECRET, "u1", UserRole.SHOPPER, issuer="auth.example", audience="other"),
    ):
        with pytest.raises(InvalidToken):
            verify_token(rules, bad)


@pytest.mark.parametrize("user_id", ["", "a:b", "x" * 65, "é"])
def test_a_user_id_outside_the_id_pattern_is_refused(user_id):
    with pytest.raises(InvalidToken, match="sub"):
        verify_token(TokenRules(SECRET), issue_token(SECRET, user_id, UserRole.SHOPPER))
