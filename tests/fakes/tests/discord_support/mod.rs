//! Shared helpers for the fake-Discord tests: start the fake, build a real serenity client in
//! either transport mode, and record what serenity's event handler sees.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use linkguard_fakes::discord::{FakeDiscord, FakeDiscordConfig};
use serenity::all::{
    ChannelId, Client, ClientBuilder, CommandInteraction, Context, CreateInteractionResponse,
    CreateInteractionResponseMessage, EditInteractionResponse, EventHandler, GatewayIntents,
    GuildId, Http, HttpBuilder, Interaction, Message, MessageId, MessageUpdateEvent, Ready,
    ResumedEvent,
};
use serenity::async_trait;
use serenity::http::RatelimitInfo;
use serenity::model::guild::Guild;
use tokio::sync::mpsc;

/// Generous upper bound for anything to happen; tests never sleep for it.
pub const WAIT: Duration = Duration::from_secs(20);

/// How serenity reaches the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `HttpBuilder::proxy(http://127.0.0.1:PORT)`, rate limiter disabled (serenity skips the
    /// proxy when its rate limiter is on).
    Proxy,
    /// Production path: `https://discord.com` resolved to the fake, test CA trusted, rate
    /// limiter on.
    Https,
}

/// serenity's `Http` for the fake.
pub fn http_for(fake: &FakeDiscord, transport: Transport) -> Http {
    match transport {
        Transport::Proxy => HttpBuilder::new(fake.bot_token())
            .proxy(fake.http_base())
            .ratelimiter_disabled(true)
            .build(),
        Transport::Https => {
            let ca = reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).expect("test CA");
            let client = reqwest::Client::builder()
                .use_rustls_tls()
                .resolve("discord.com", fake.https_addr())
                .add_root_certificate(ca)
                .build()
                .expect("reqwest client");
            HttpBuilder::new(fake.bot_token()).client(client).build()
        }
    }
}

/// What the event handler saw, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Ready {
        session_id: String,
        shard: u32,
    },
    GuildCreate(u64),
    Message {
        id: u64,
        channel: u64,
        guild: Option<u64>,
        content: String,
        author: u64,
        author_bot: bool,
        webhook_id: Option<u64>,
        has_member: bool,
    },
    Update {
        id: u64,
        content: Option<String>,
    },
    Delete {
        id: u64,
        channel: u64,
    },
    Interaction {
        id: u64,
        name: String,
    },
    Resumed,
    RateLimited {
        path: String,
        seconds: f64,
    },
}

/// How the handler answers slash commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Does not answer.
    Nothing,
    /// Type 4, ephemeral.
    Ephemeral,
    /// Type 5, then edits `@original`.
    Deferred,
}

pub struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
    answer: Answer,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        let shard = ready.shard.map_or(0, |s| s.id.0);
        let _ = self.tx.send(Seen::Ready {
            session_id: ready.session_id,
            shard,
        });
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let _ = self.tx.send(Seen::GuildCreate(guild.id.get()));
    }

    async fn message(&self, _ctx: Context, m: Message) {
        let _ = self.tx.send(Seen::Message {
            id: m.id.get(),
            channel: m.channel_id.get(),
            guild: m.guild_id.map(GuildId::get),
            content: m.content.clone(),
            author: m.author.id.get(),
            author_bot: m.author.bot,
            webhook_id: m.webhook_id.map(|w| w.get()),
            has_member: m.member.is_some(),
        });
    }

    async fn message_update(
        &self,
        _ctx: Context,
        _old: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        let _ = self.tx.send(Seen::Update {
            id: event.id.get(),
            content: event.content,
        });
    }

    async fn message_delete(
        &self,
        _ctx: Context,
        channel_id: ChannelId,
        id: MessageId,
        _guild: Option<GuildId>,
    ) {
        let _ = self.tx.send(Seen::Delete {
            id: id.get(),
            channel: channel_id.get(),
        });
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(command) = interaction {
            let _ = self.tx.send(Seen::Interaction {
                id: command.id.get(),
                name: command.data.name.clone(),
            });
            answer(&ctx, &command, self.answer).await;
        }
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        let _ = self.tx.send(Seen::Resumed);
    }

    async fn ratelimit(&self, info: RatelimitInfo) {
        let _ = self.tx.send(Seen::RateLimited {
            path: info.path,
            seconds: info.timeout.as_secs_f64(),
        });
    }
}

async fn answer(ctx: &Context, command: &CommandInteraction, how: Answer) {
    match how {
        Answer::Nothing => {}
        Answer::Ephemeral => {
            let msg = CreateInteractionResponseMessage::new()
                .content(format!("ok: {}", command.data.name))
                .ephemeral(true);
            command
                .create_response(&ctx.http, CreateInteractionResponse::Message(msg))
                .await
                .expect("interaction callback");
        }
        Answer::Deferred => {
            command.defer_ephemeral(&ctx.http).await.expect("defer");
            command
                .edit_response(
                    &ctx.http,
                    EditInteractionResponse::new().content("done later"),
                )
                .await
                .expect("edit original");
        }
    }
}

/// A running serenity client plus the stream of what it saw.
pub struct Bot {
    pub http: Arc<Http>,
    pub events: Events,
    pub client_task: tokio::task::JoinHandle<Result<(), serenity::Error>>,
    shard_manager: Arc<serenity::gateway::ShardManager>,
}

impl Bot {
    pub async fn stop(self) {
        self.shard_manager.shutdown_all().await;
        self.client_task.abort();
    }
}

pub fn default_intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// Builds a serenity client against the fake and starts it (one shard).
pub async fn start_bot(
    fake: &FakeDiscord,
    transport: Transport,
    intents: GatewayIntents,
    answer: Answer,
) -> Bot {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut client: Client = ClientBuilder::new_with_http(http_for(fake, transport), intents)
        .event_handler(Recorder { tx, answer })
        .await
        .expect("serenity client");
    let http = Arc::clone(&client.http);
    let shard_manager = Arc::clone(&client.shard_manager);
    let client_task = tokio::spawn(async move { client.start().await });
    Bot {
        http,
        events: Events {
            rx,
            seen: Vec::new(),
        },
        client_task,
        shard_manager,
    }
}

/// [`start_bot`] with the default intents and no answers, once serenity has seen READY.
pub async fn ready_bot(fake: &FakeDiscord, transport: Transport) -> Bot {
    let mut bot = start_bot(fake, transport, default_intents(), Answer::Nothing).await;
    bot.events.wait_ready().await;
    bot
}

/// Starts the fake with `config` and logs at debug when `RUST_LOG` asks for it.
pub async fn start_fake(config: FakeDiscordConfig) -> FakeDiscord {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    FakeDiscord::start(config).await.expect("fake discord")
}

pub struct Events {
    rx: mpsc::UnboundedReceiver<Seen>,
    pub seen: Vec<Seen>,
}

impl Events {
    /// Waits for the first event (not yet consumed by an earlier wait) matching `pred`.
    pub async fn wait_for(&mut self, what: &str, mut pred: impl FnMut(&Seen) -> bool) -> Seen {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(seen)) => {
                    self.seen.push(seen.clone());
                    if pred(&seen) {
                        return seen;
                    }
                }
                _ => panic!("timed out waiting for {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// Takes everything already delivered without waiting.
    pub fn drain(&mut self) -> &[Seen] {
        while let Ok(seen) = self.rx.try_recv() {
            self.seen.push(seen);
        }
        &self.seen
    }

    /// Waits for READY and the guild.
    pub async fn wait_ready(&mut self) {
        self.wait_for("READY", |s| matches!(s, Seen::Ready { .. }))
            .await;
        self.wait_for("GUILD_CREATE", |s| matches!(s, Seen::GuildCreate(_)))
            .await;
    }

    pub async fn wait_message(&mut self, id: u64) -> Seen {
        self.wait_for(
            &format!("MESSAGE_CREATE {id}"),
            |s| matches!(s, Seen::Message { id: m, .. } if *m == id),
        )
        .await
    }
}

/// Every dispatch the fake produced deserializes with serenity into a known event.
pub fn assert_dispatches_known(fake: &FakeDiscord) {
    use serenity::model::event::{Event, GatewayEvent};
    let dispatches = fake.with_state(|s| s.dispatches().to_vec());
    assert!(!dispatches.is_empty());
    for d in dispatches {
        let frame = serde_json::json!({ "op": 0, "s": 1, "t": d.t, "d": d.d });
        match serde_json::from_value::<GatewayEvent>(frame) {
            Ok(GatewayEvent::Dispatch(_, Event::Unknown(_))) => {
                panic!("serenity does not recognise {}: {:#}", d.t, d.d)
            }
            Ok(_) => {}
            Err(e) => panic!("{} does not parse: {e}", d.t),
        }
    }
}

/// The HTTP status and Discord error code of a failed REST call.
pub fn discord_code(err: &serenity::Error) -> Option<(u16, isize)> {
    match err {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            Some((r.status_code.as_u16(), r.error.code))
        }
        _ => None,
    }
}
