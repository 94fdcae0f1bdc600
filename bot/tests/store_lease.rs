//! Leases between replicas (used by Discord AutoMod sync so one replica
//! writes at a time), on SQLite and PostgreSQL: one holder at a time, the
//! holder may renew, a release frees it, an expired lease can be taken
//! over, and two stores on one database race for it with one winner.

mod store_common;

use std::time::Duration;
use store_common::TestDb;

const NAME: &str = "lease.discord.automod.1058897343283331074";
const LONG: Duration = Duration::from_secs(60);

async fn one_holder_at_a_time(db: &TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    assert!(a.lease_try(NAME, "replica-a", LONG).await.unwrap());
    assert!(!b.lease_try(NAME, "replica-b", LONG).await.unwrap());
    // The holder renews.
    assert!(a.lease_try(NAME, "replica-a", LONG).await.unwrap());
    // Someone else's release does nothing; the holder's frees it.
    b.lease_release(NAME, "replica-b").await.unwrap();
    assert!(!b.lease_try(NAME, "replica-b", LONG).await.unwrap());
    a.lease_release(NAME, "replica-a").await.unwrap();
    assert!(b.lease_try(NAME, "replica-b", LONG).await.unwrap());
    // A lease older than its time-to-live is taken over (its holder died).
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(a
        .lease_try(NAME, "replica-a", Duration::ZERO)
        .await
        .unwrap());
    assert!(!b.lease_try(NAME, "replica-b", LONG).await.unwrap());
    // Other leases are independent.
    assert!(b.lease_try("lease.other", "replica-b", LONG).await.unwrap());
    // Many contenders at once: exactly one wins.
    a.lease_release(NAME, "replica-a").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.lease_try(NAME, &format!("contender-{i}"), LONG)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn sqlite_one_lease_holder_at_a_time() {
    one_holder_at_a_time(&store_common::sqlite().await).await;
}

#[tokio::test]
async fn postgres_one_lease_holder_at_a_time() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    one_holder_at_a_time(&db).await;
}
