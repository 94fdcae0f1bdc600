//! Discord channel cursors (migration 0005) on SQLite and PostgreSQL: they
//! are kept per guild, only ever move forward (a late, older write cannot
//! move one back, so a catch-up never skips what it has not read), and
//! survive reopening the database.

mod store_common;

use linkguard::store::ChannelCursor;
use store_common::TestDb;

const GUILD: u64 = 1_058_897_343_283_331_074;
const OTHER_GUILD: u64 = GUILD + (1 << 22);
const GENERAL: u64 = 1_058_897_594_941_571_075;
const THREAD: u64 = 1_456_071_927_398_531_076;

fn at(channel: u64, guild: u64, last_message: u64) -> ChannelCursor {
    ChannelCursor {
        channel,
        guild,
        last_message,
    }
}

async fn cursors_only_move_forward(db: &TestDb) {
    let store = db.store().await;
    assert!(store.discord_cursors(GUILD).await.unwrap().is_empty());
    store
        .advance_discord_cursors(&[
            at(GENERAL, GUILD, 1_579_000_000_000_000_100),
            at(THREAD, GUILD, 1_579_000_000_000_000_050),
            at(GENERAL + 1, OTHER_GUILD, 1_579_000_000_000_000_001),
        ])
        .await
        .unwrap();
    // A slow writer's older value does not move a cursor back; a newer one does.
    store
        .advance_discord_cursors(&[
            at(GENERAL, GUILD, 1_579_000_000_000_000_090),
            at(THREAD, GUILD, 1_579_000_000_000_000_060),
        ])
        .await
        .unwrap();
    store.advance_discord_cursors(&[]).await.unwrap();
    let mine = store.discord_cursors(GUILD).await.unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[&GENERAL], 1_579_000_000_000_000_100);
    assert_eq!(mine[&THREAD], 1_579_000_000_000_000_060);
    store.close().await;

    let reopened = db.store().await;
    let other = reopened.discord_cursors(OTHER_GUILD).await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[&(GENERAL + 1)], 1_579_000_000_000_000_001);
    // Snowflakes beyond a database integer are refused, not wrapped.
    assert!(reopened
        .advance_discord_cursors(&[at(GENERAL, GUILD, u64::MAX)])
        .await
        .is_err());
    assert_eq!(
        reopened.discord_cursors(GUILD).await.unwrap()[&GENERAL],
        1_579_000_000_000_000_100
    );
}

#[tokio::test]
async fn sqlite_cursors_only_move_forward() {
    cursors_only_move_forward(&store_common::sqlite().await).await;
}

#[tokio::test]
async fn postgres_cursors_only_move_forward() {
    let Some(db) = store_common::postgres().await else {
        return;
    };
    cursors_only_move_forward(&db).await;
}
