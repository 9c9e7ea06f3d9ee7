"""Store-level community behaviour on SQLite and PostgreSQL: accounts, sessions, tokens, votes,
submissions, comments, and the incrementally maintained trending term."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from paperscope.feed.trending import (
    SUBMISSION_WEIGHT,
    add_event,
    community_score,
    trend_of,
    trending_papers,
)
from paperscope.model import Paper
from paperscope.store import comments as comment_store
from paperscope.store import get_paper, upsert_papers
from paperscope.store import users as user_store
from paperscope.store import votes as vote_store
from paperscope.store.listings import community_papers
from paperscope.store.schema import api_tokens, user_sessions

# The backend matters here (tests/conftest.py): every store-backed test runs on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_backends

T0 = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
DAY = date(2025, 3, 20)


def _papers(engine: sa.Engine, n: int = 3) -> list[int]:
    upsert_papers(engine, [Paper(title=f"Paper {i}", arxiv_id=f"2503.0000{i}", listed=DAY,
                                 categories=("cs.CL",), source="test") for i in range(1, n + 1)])
    return [vote_store.paper_rowid(engine, f"2503.0000{i}") or 0 for i in range(1, n + 1)]


def _user(engine: sa.Engine, name: str) -> user_store.User:
    return user_store.create_user(engine, name, f"{name}@example.org", "$argon2id$not-a-real-hash")


def test_accounts_are_unique_by_name_and_address_ignoring_case(engine: sa.Engine) -> None:
    alice = _user(engine, "alice")
    with pytest.raises(user_store.UserExists):
        user_store.create_user(engine, "ALICE", "other@example.org", "h")
    with pytest.raises(user_store.UserExists):
        user_store.create_user(engine, "bob", "Alice@Example.org", "h")
    assert user_store.find_user(engine, "Alice") == alice
    assert user_store.find_user(engine, "ALICE@example.org") == alice


def test_sessions_and_tokens_are_stored_only_as_hashes_and_end(engine: sa.Engine) -> None:
    alice = _user(engine, "alice")
    user_store.create_session(engine, alice.id, "cookie-secret", T0 + timedelta(days=1), T0)
    user_store.create_api_token(engine, alice.id, "script", "ps_token-secret")
    with engine.connect() as conn:
        stored = [*conn.execute(sa.select(user_sessions.c.token_hash)).scalars(),
                  *conn.execute(sa.select(api_tokens.c.token_hash)).scalars()]
    assert "cookie-secret" not in str(stored) and "ps_token-secret" not in str(stored)
    assert user_store.session_user(engine, "cookie-secret", T0) == alice
    assert user_store.session_user(engine, "cookie-secret", T0 + timedelta(days=2)) is None  # expired
    assert user_store.token_user(engine, "ps_token-secret") == alice
    # Suspension ends sessions and silences tokens; revocation kills a token for good.
    user_store.set_status(engine, alice.id, "suspended")
    assert user_store.session_user(engine, "cookie-secret", T0) is None
    assert user_store.token_user(engine, "ps_token-secret") is None
    user_store.set_status(engine, alice.id, "active")
    token_id = user_store.list_api_tokens(engine, alice.id)[0].id
    assert user_store.revoke_api_token(engine, alice.id, token_id)
    assert not user_store.revoke_api_token(engine, alice.id, token_id)
    assert user_store.token_user(engine, "ps_token-secret") is None


def test_one_vote_per_user_and_counts_follow(engine: sa.Engine) -> None:
    rowid = _papers(engine, 1)[0]
    alice, bob = _user(engine, "alice"), _user(engine, "bob")
    assert vote_store.upvote(engine, alice.id, rowid, T0, add_event).changed
    again = vote_store.upvote(engine, alice.id, rowid, T0, add_event)
    assert not again.changed and again.local_upvotes == 1
    assert vote_store.upvote(engine, bob.id, rowid, T0, add_event).local_upvotes == 2
    paper = get_paper(engine, "2503.00001")
    assert paper is not None and paper.local_upvotes == 2 and paper.upvotes == 2
    assert vote_store.unvote(engine, alice.id, rowid, trend_of, SUBMISSION_WEIGHT).local_upvotes == 1
    assert not vote_store.unvote(engine, alice.id, rowid, trend_of, SUBMISSION_WEIGHT).changed
    assert vote_store.voted_papers(engine, bob.id, [rowid]) == {rowid}
    assert vote_store.voted_papers(engine, alice.id, [rowid]) == set()


def test_stored_trend_equals_the_decayed_sum_and_orders_without_rescoring(engine: sa.Engine) -> None:
    first, second, third = _papers(engine, 3)
    users = [_user(engine, f"user{i}") for i in range(4)]
    # Paper 1: three votes a day ago. Paper 2: one vote just now. Paper 3: a vote then taken back.
    for u in users[:3]:
        vote_store.upvote(engine, u.id, first, T0 - timedelta(hours=24), add_event)
    vote_store.upvote(engine, users[3].id, second, T0, add_event)
    vote_store.upvote(engine, users[0].id, third, T0, add_event)
    vote_store.unvote(engine, users[0].id, third, trend_of, SUBMISSION_WEIGHT)
    stored = {p.paper_id: p.community_trend for p in community_papers(engine, DAY, DAY)}
    # 1.5 fresh-vote equivalents beat 1; paper 3 has no activity left, so it is no candidate.
    assert list(stored) == ["2503.00001", "2503.00002"]
    # A day-old vote is worth half a fresh one (24 h half-life): 3 x 0.5 = 1.5 > 1.
    fresh = community_score(stored["2503.00002"], T0)
    assert community_score(stored["2503.00001"], T0) == pytest.approx(1.5 * fresh)
    # The ratio between papers never changes with time, so the index order stays right.
    later = T0 + timedelta(days=30)
    assert community_score(stored["2503.00001"], later) / community_score(stored["2503.00002"], later) \
        == pytest.approx(1.5)
    assert get_paper(engine, "2503.00003").community_trend is None  # type: ignore[union-attr]


def test_trending_combines_local_and_hf_terms(engine: sa.Engine) -> None:
    _papers(engine, 2)
    alice = _user(engine, "alice")
    vote_store.upvote(engine, alice.id, vote_store.paper_rowid(engine, "2503.00002") or 0, T0, add_event)
    items, total, _ = trending_papers(engine, as_of=T0)
    assert [i.paper.paper_id for i in items][:1] == ["2503.00002"] and total == 2
    assert items[0].score == pytest.approx(community_score(items[0].paper.community_trend, T0))
    assert items[1].score == 0.0


def test_submission_lists_a_paper_once_per_day(engine: sa.Engine) -> None:
    upsert_papers(engine, [Paper(title="Old paper", arxiv_id="2401.00001", listed=date(2024, 1, 2),
                                 source="test")])
    rowid = vote_store.paper_rowid(engine, "2401.00001") or 0
    alice, bob = _user(engine, "alice"), _user(engine, "bob")
    vote_store.submit(engine, alice.id, rowid, "alice", DAY, T0, add_event, SUBMISSION_WEIGHT)
    with pytest.raises(vote_store.AlreadyListed):
        vote_store.submit(engine, bob.id, rowid, "bob", DAY, T0, add_event, SUBMISSION_WEIGHT)
    paper = get_paper(engine, "2401.00001")
    # The submission is its own record: the paper keeps its first listing date.
    assert paper is not None and paper.listed == date(2024, 1, 2)
    assert [(s.day, s.username) for s in vote_store.submissions_of(engine, rowid)] == [(DAY, "alice")]
    assert paper.community_trend is not None
    # The next day it may be submitted again.
    vote_store.submit(engine, bob.id, rowid, "bob", DAY + timedelta(days=1), T0 + timedelta(days=1),
                      add_event, SUBMISSION_WEIGHT)
    assert len(vote_store.submissions_of(engine, rowid)) == 2


def test_comments_edit_window_author_only_and_soft_removal(engine: sa.Engine) -> None:
    rowid = _papers(engine, 1)[0]
    alice, mod = _user(engine, "alice"), _user(engine, "mod")
    c = comment_store.add_comment(engine, rowid, alice.id, "first *draft*", T0)
    assert not comment_store.edit_comment(engine, c.id, mod.id, "hijacked", T0, T0 - timedelta(minutes=15))
    assert comment_store.edit_comment(engine, c.id, alice.id, "second", T0 + timedelta(minutes=5),
                                      T0 + timedelta(minutes=5) - timedelta(minutes=15))
    late = T0 + timedelta(minutes=16)
    assert not comment_store.edit_comment(engine, c.id, alice.id, "too late", late,
                                          late - timedelta(minutes=15))
    assert [x.body for x in comment_store.paper_comments(engine, rowid)] == ["second"]
    assert comment_store.remove_comment(engine, c.id, mod.id, T0)
    assert comment_store.paper_comments(engine, rowid) == []
    assert comment_store.paper_comments(engine, rowid, include_removed=True)[0].removed
    assert comment_store.comment_counts(engine, [rowid]) == {}


def test_trending_pages_with_local_activity_match_the_full_ranking(engine: sa.Engine) -> None:
    rowids = _papers(engine, 8)
    voters = [_user(engine, f"v{i}") for i in range(6)]
    # Paper k (k = 0..5) gets k+1 votes at staggered times; papers 6 and 7 stay quiet.
    for k, rowid in enumerate(rowids[:6]):
        for v in voters[:k + 1]:
            vote_store.upvote(engine, v.id, rowid, T0 - timedelta(hours=k), add_event)
    full, total, _ = trending_papers(engine, as_of=T0, limit=100)
    paged = []
    for page in range(4):
        items, page_total, _ = trending_papers(engine, as_of=T0, limit=2, offset=page * 2)
        assert page_total == total == 8
        paged += items
    assert [i.paper.paper_id for i in paged] == [i.paper.paper_id for i in full]
    assert [i.score > 0 for i in full] == [True] * 6 + [False] * 2


def test_old_auth_events_and_expired_sessions_are_pruned(engine: sa.Engine) -> None:
    alice = _user(engine, "alice")
    user_store.record_auth_event(engine, "signin-fail-ip", "10.0.0.1", T0 - timedelta(hours=2))
    user_store.record_auth_event(engine, "signin-fail-ip", "10.0.0.1", T0)
    assert user_store.prune_auth_events(engine, T0 - timedelta(hours=1)) == 1
    assert user_store.recent_auth_events(engine, "signin-fail-ip", "10.0.0.1", T0 - timedelta(days=1)) == [T0]
    user_store.create_session(engine, alice.id, "old", T0 - timedelta(seconds=1), T0 - timedelta(days=30))
    user_store.create_session(engine, alice.id, "live", T0 + timedelta(days=1), T0)
    assert user_store.prune_sessions(engine, T0) == 1
    assert user_store.session_user(engine, "live", T0) == alice


def test_simultaneous_double_clicks_count_once(engine: sa.Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rowid = _papers(engine, 1)[0]
    alice = _user(engine, "alice")
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: vote_store.upvote(engine, alice.id, rowid, T0, add_event),
                                range(6)))
    assert sum(r.changed for r in results) == 1
    paper = get_paper(engine, "2503.00001")
    assert paper is not None and paper.local_upvotes == 1
    assert paper.community_trend == pytest.approx(add_event(None, T0, 1.0))
