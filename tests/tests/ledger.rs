//! The payment ledger (migrations/nexgate/*_payments_ledger.sql), against real PostgreSQL:
//! balances move exactly, retries never double, limits hold under concurrency, two-phase
//! transfers resolve once, and the invariants view stays empty after every scenario.

use nexgate_tests::TestDatabase;
use tokio_postgres::Client;
use uuid::Uuid;

async fn connect(db: &TestDatabase) -> Client {
    let (client, conn) =
        tokio_postgres::connect(&db.url("nexgate_payments"), tokio_postgres::NoTls)
            .await
            .expect("payments connection");
    tokio::spawn(conn);
    client
}

async fn account(c: &Client, code: &str, no_overdraft: bool) -> Uuid {
    let id = Uuid::now_v7();
    c.execute(
        "INSERT INTO payments.ledger_accounts (id, code, currency, debits_must_not_exceed_credits) VALUES ($1, $2, 'TZS', $3)",
        &[&id, &code, &no_overdraft],
    )
    .await
    .unwrap();
    id
}

async fn transfer(
    c: &Client,
    id: Uuid,
    debit: Uuid,
    credit: Uuid,
    amount: Option<i64>,
    kind: &str,
    pending: Option<Uuid>,
) -> String {
    c.query_one(
        "SELECT payments.create_transfer($1, $2, $3, $4, 'TZS', $5, $6, 'test')",
        &[&id, &debit, &credit, &amount, &kind, &pending],
    )
    .await
    .unwrap()
    .get(0)
}

/// (debits_pending, debits_posted, credits_pending, credits_posted)
async fn balances(c: &Client, id: Uuid) -> (i64, i64, i64, i64) {
    let r = c
        .query_one(
            "SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM payments.ledger_accounts WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

async fn assert_invariants(c: &Client) {
    let rows = c
        .query(
            "SELECT violation, account_id FROM payments.ledger_violations",
            &[],
        )
        .await
        .unwrap();
    let found: Vec<(String, Option<Uuid>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(found.is_empty(), "ledger invariants broken: {found:?}");
}

#[tokio::test]
async fn a_transfer_moves_exactly_once_and_a_reused_id_changes_nothing() {
    let db = tokio::task::spawn_blocking(|| TestDatabase::create(false))
        .await
        .unwrap()
        .unwrap();
    let c = connect(&db).await;
    let clearing = account(&c, "provider_clearing", false).await;
    let escrow = account(&c, "escrow", true).await;
    let id = Uuid::now_v7();
    assert_eq!(
        transfer(
            &c,
            id,
            clearing,
            escrow,
            Some(100_000),
            "single_phase",
            None
        )
        .await,
        "created"
    );
    assert_eq!(
        transfer(
            &c,
            id,
            clearing,
            escrow,
            Some(100_000),
            "single_phase",
            None
        )
        .await,
        "exists"
    );
    assert_eq!(
        transfer(&c, id, clearing, escrow, Some(999), "single_phase", None).await,
        "exists_with_different_fields"
    );
    assert_eq!(balances(&c, clearing).await, (0, 100_000, 0, 0));
    assert_eq!(balances(&c, escrow).await, (0, 0, 0, 100_000));
    // The escrow cannot pay out more than it holds.
    let seller = account(&c, "available", true).await;
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            escrow,
            seller,
            Some(100_001),
            "single_phase",
            None
        )
        .await,
        "exceeds_credits"
    );
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            escrow,
            seller,
            Some(100_000),
            "single_phase",
            None
        )
        .await,
        "created"
    );
    // The journal is immutable.
    assert!(c
        .execute("UPDATE payments.ledger_transfers SET amount = 1", &[])
        .await
        .is_err());
    assert!(c
        .execute("DELETE FROM payments.ledger_transfers", &[])
        .await
        .is_err());
    assert_invariants(&c).await;
}

#[tokio::test]
async fn a_pending_transfer_is_posted_or_voided_exactly_once() {
    let db = tokio::task::spawn_blocking(|| TestDatabase::create(false))
        .await
        .unwrap()
        .unwrap();
    let c = connect(&db).await;
    let clearing = account(&c, "provider_clearing", false).await;
    let escrow = account(&c, "escrow", true).await;
    let seller = account(&c, "available", true).await;
    transfer(
        &c,
        Uuid::now_v7(),
        clearing,
        escrow,
        Some(50_000),
        "single_phase",
        None,
    )
    .await;

    // Reserve 30,000 for release; while pending it counts against the escrow's limit.
    let hold = Uuid::now_v7();
    assert_eq!(
        transfer(&c, hold, escrow, seller, Some(30_000), "pending", None).await,
        "created"
    );
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            escrow,
            seller,
            Some(30_000),
            "single_phase",
            None
        )
        .await,
        "exceeds_credits"
    );
    assert_eq!(balances(&c, escrow).await, (30_000, 0, 0, 50_000));
    // Post 25,000 of it; the rest is released. A second resolution is refused.
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            escrow,
            seller,
            Some(25_000),
            "post_pending",
            Some(hold)
        )
        .await,
        "created"
    );
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            escrow,
            seller,
            None,
            "void_pending",
            Some(hold)
        )
        .await,
        "pending_already_resolved"
    );
    assert_eq!(balances(&c, escrow).await, (0, 25_000, 0, 50_000));
    assert_eq!(balances(&c, seller).await, (0, 0, 0, 25_000));

    let other = Uuid::now_v7();
    transfer(&c, other, escrow, seller, Some(10_000), "pending", None).await;
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            escrow,
            seller,
            None,
            "void_pending",
            Some(other)
        )
        .await,
        "created"
    );
    assert_eq!(balances(&c, escrow).await, (0, 25_000, 0, 50_000));
    assert_eq!(
        transfer(
            &c,
            Uuid::now_v7(),
            seller,
            escrow,
            None,
            "post_pending",
            Some(other)
        )
        .await,
        "pending_mismatch"
    );
    assert_invariants(&c).await;
}

#[tokio::test]
async fn fifty_parallel_retries_make_one_transfer_and_racing_spends_never_overdraw() {
    let db = tokio::task::spawn_blocking(|| TestDatabase::create(false))
        .await
        .unwrap()
        .unwrap();
    let c = connect(&db).await;
    let clearing = account(&c, "provider_clearing", false).await;
    let escrow = account(&c, "escrow", true).await;
    let seller = account(&c, "available", true).await;

    // 50 deliveries of the same callback: one credit.
    let id = Uuid::now_v7();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = connect(&db).await;
        tasks.push(tokio::spawn(async move {
            transfer(
                &client,
                id,
                clearing,
                escrow,
                Some(70_000),
                "single_phase",
                None,
            )
            .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "created" => created += 1,
            "exists" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(balances(&c, escrow).await, (0, 0, 0, 70_000));

    // 50 racing releases of 2,000 from 70,000: exactly 35 fit.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = connect(&db).await;
        tasks.push(tokio::spawn(async move {
            transfer(
                &client,
                Uuid::now_v7(),
                escrow,
                seller,
                Some(2_000),
                "single_phase",
                None,
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "created" => ok += 1,
            "exceeds_credits" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 35);
    assert_eq!(balances(&c, escrow).await, (0, 70_000, 0, 70_000));
    assert_eq!(balances(&c, seller).await, (0, 0, 0, 70_000));
    assert_invariants(&c).await;
}
