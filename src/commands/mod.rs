//! One module per command; this one holds what they share: turning the command line, environment, config
//! file and recorded state into validated settings, and connecting to AWS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::aws::{self, Aws};
use crate::cancel::Cancel;
use crate::cli::{GlobalArgs, SettingArgs};
use crate::config::{self, Layers, PasswordSource, Purpose, Settings};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::progress::Progress;
use crate::resources::Shared;
use crate::state::{Lock, State, StateFile};
use crate::timings::Timings;

pub mod agent;
pub mod agent_probe;
pub mod call;
pub mod completions;
pub mod connect;
pub mod doctor;
pub mod down;
pub mod logs;
pub mod plan;
pub mod rotate_origin;
pub mod status;
pub mod token;
pub mod tools;
pub mod up;

/// What every command gets from `main`.
pub struct Env {
    pub global: GlobalArgs,
    pub ledger: Ledger,
    pub progress: Progress,
    pub cancel: Cancel,
    /// Where the run's time goes (`--timings`), from the start of the process.
    pub timings: Arc<Timings>,
}

impl Env {
    /// Writes `--timings FILE`, when asked for. A failure to write it is reported, not fatal: the run's result
    /// matters more than its timeline.
    pub fn write_timings(&self, command: &str) {
        if let Some(path) = &self.global.timings
            && let Err(e) = self.timings.report(command).write(path)
        {
            self.progress.note(&format!("warning: {e}"));
        }
    }
}

/// Settings, the stack's state file and its current content — everything decided before any AWS call.
pub struct Prepared {
    pub settings: Arc<Settings>,
    pub file: StateFile,
    pub state: Option<State>,
    pub region: String,
}

impl Prepared {
    /// Takes the stack's lock for `command` and reads the state again under it: another run may have changed it
    /// between [`prepare`] and the lock. The lock is held until the returned guard is dropped.
    pub fn locked(self, command: &str) -> Result<(Lock, Prepared)> {
        let lock = self.file.lock(command)?;
        let state = self.file.load()?;
        if let Some(s) = &state {
            this_stacks(s, &self.file, &self.settings.stack, &self.region)?;
        }
        Ok((lock, Prepared { state, ..self }))
    }

    /// Keeps the state file, now known to be this stack's (stack, region and account checked), as the last good
    /// copy. Only for the commands that change the state, under the lock, after [`Connected::verified`].
    pub fn keep_last_good(&self) -> Result<()> {
        match &self.state {
            Some(_) => self.file.keep_last_good(),
            None => Ok(()),
        }
    }
}

/// Refuses a state file that records another stack or region than the run's: its recorded IDs are another
/// stack's, and acting on them would change or delete that stack's resources (the account is checked against the
/// credentials' in [`connect`] and [`Connected::verified`]).
fn this_stacks(s: &State, file: &StateFile, stack: &str, region: &str) -> Result<()> {
    if s.stack != stack {
        return Err(Error::usage(
            "--stack",
            format!(
                "the state file {} records stack `{}`, not `{stack}`: it is another stack's (copied or renamed), and \
                 acting on it would touch that stack's resources. Nothing was read from or sent to AWS. Use \
                 `--stack {}`, or move the file aside (without a state file, `up` and `down` find stack `{stack}`'s \
                 resources by tag and name)",
                file.path.display(),
                s.stack,
                s.stack
            ),
        ));
    }
    if s.region != region {
        return Err(Error::usage(
            "--region",
            format!(
                "stack {stack} was deployed to {} but this run targets {region}; pass --region {}",
                s.region, s.region
            ),
        ));
    }
    Ok(())
}

/// Resolves settings for a command. Reads only local files and the environment.
pub async fn prepare(
    env: &Env,
    args: Option<&SettingArgs>,
    purpose: Purpose,
    password: PasswordSource,
) -> Result<Prepared> {
    let mut layers = Layers {
        flags: env.global.flags(),
        ..Default::default()
    };
    if let Some(a) = args {
        layers.flags.extend(a.flags());
    }
    layers.read_env(&|k| std::env::var(k).ok());
    let config_path = env
        .global
        .config
        .clone()
        .or_else(|| std::env::var("NEO4J_GW_CONFIG").ok().map(PathBuf::from));
    let explicit = config_path.is_some();
    layers.read_file(
        &config_path.unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG_FILE)),
        explicit,
    )?;
    // The stack and the state directory locate the state file, whose recorded settings fill the gaps.
    let stack = layers.get("stack").map(|(v, _)| v).unwrap_or_default();
    config::validate_stack(&stack).map_err(|m| Error::usage("--stack", m))?;
    let state_dir = layers.get("state_dir").map(|(v, _)| v).unwrap_or_default();
    let file = StateFile::new(&PathBuf::from(state_dir), &stack);
    let state = file.load()?;
    if let Some(s) = &state {
        // Before its settings are used for anything: a file of another stack is refused.
        if s.stack != stack {
            this_stacks(s, &file, &stack, &s.region)?;
        }
        layers.recorded = s.settings.clone();
    }
    let settings = config::resolve(&layers, purpose, password)?;
    if purpose == Purpose::Up {
        // The URI of the last `up` (recorded unless it was the default, the demo database) and whether it made the
        // secret: an absent password keeps the secret's, unless there is none yet or the URI changes.
        let deployed_uri = state.as_ref().map(|s| {
            s.settings
                .get("neo4j_uri")
                .map(String::as_str)
                .unwrap_or(config::DEMO_URI)
        });
        let secret_recorded = state
            .as_ref()
            .is_some_and(|s| s.resources.contains_key(crate::resources::secret::NODE));
        config::password_needed(&settings, deployed_uri, secret_recorded)?;
    }
    let region = aws::resolve_region(&settings, state.as_ref().map(|s| s.region.as_str())).await?;
    if let Some(arn) = &settings.certificate_arn {
        config::validate_certificate_arn(arn, Some(&region))
            .map_err(|m| Error::usage("--certificate-arn", m))?;
    }
    if let Some(s) = &state {
        this_stacks(s, &file, &stack, &region)?;
    }
    Ok(Prepared {
        settings: Arc::new(settings),
        file,
        state,
        region,
    })
}

/// Where the Neo4j password comes from: the first line of standard input with `--neo4j-password-stdin`, else
/// `NEO4J_PASSWORD` (absent: the secret keeps the password it holds).
pub fn password_source(stdin: bool) -> Result<PasswordSource> {
    if !stdin {
        return Ok(PasswordSource::Env(std::env::var("NEO4J_PASSWORD").ok()));
    }
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line).map_err(|e| {
        Error::usage(
            "--neo4j-password-stdin",
            format!("cannot read standard input: {e}"),
        )
    })?;
    Ok(PasswordSource::Stdin(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Connects to AWS and checks the credentials' account against the state's.
pub async fn connect(env: &Env, p: &Prepared) -> Result<(Aws, String)> {
    let start = std::time::Instant::now();
    let aws = Aws::new(&p.settings, &p.region, &env.ledger).await;
    let account = aws.account().await?;
    env.timings.step("(account)", start);
    if let Some(s) = &p.state
        && s.account != account
    {
        return Err(wrong_account(s, &account));
    }
    Ok((aws, account))
}

fn wrong_account(s: &State, account: &str) -> Error {
    Error::usage(
        "credentials",
        format!(
            "stack {} lives in account {} but the credentials in use belong to {account}; switch --profile or \
             credentials. Nothing was changed",
            s.stack, s.account
        ),
    )
}

/// AWS and the account of a deployed stack, for the commands that start by reading every resource (`status`,
/// `plan`, `up`, `down`): the check of the credentials' account (STS) runs beside those read-only calls, which use
/// the account the state records, instead of before them. [`Connected::verified`] must be awaited before anything
/// is changed or reported. Without a state file the account is asked for first, as [`connect`] does.
pub struct Connected {
    pub aws: Aws,
    pub account: String,
    check: Option<tokio::task::JoinHandle<Result<String>>>,
}

pub async fn connect_beside(env: &Env, p: &Prepared) -> Result<Connected> {
    let Some(state) = &p.state else {
        let (aws, account) = connect(env, p).await?;
        return Ok(Connected {
            aws,
            account,
            check: None,
        });
    };
    let aws = Aws::new(&p.settings, &p.region, &env.ledger).await;
    let (sts, timings) = (aws.clone(), env.timings.clone());
    let check = tokio::spawn(async move {
        let start = std::time::Instant::now();
        let account = sts.account().await;
        timings.record_beside("(account)", start);
        account
    });
    Ok(Connected {
        aws,
        account: state.account.clone(),
        check: Some(check),
    })
}

impl Connected {
    /// The credentials' account, checked against the state's.
    pub async fn verified(&mut self, p: &Prepared) -> Result<()> {
        let Some(check) = self.check.take() else {
            return Ok(());
        };
        let account = check
            .await
            .map_err(|e| Error::other(format!("the account check did not finish: {e}")))??;
        match &p.state {
            Some(s) if s.account != account => Err(wrong_account(s, &account)),
            _ => Ok(()),
        }
    }
}

/// An engine over the whole plan.
pub fn engine(env: &Env, p: &Prepared, aws: Aws, account: &str) -> Engine {
    let known: BTreeMap<String, crate::state::Ids> = p
        .state
        .as_ref()
        .map(|s| {
            s.resources
                .iter()
                .map(|(k, r)| (k.clone(), r.ids.clone()))
                .collect()
        })
        .unwrap_or_default();
    let shared = Arc::new(Shared {
        aws,
        settings: p.settings.clone(),
        stack: p.settings.stack.clone(),
        account: account.to_owned(),
        region: p.region.clone(),
        known: RwLock::new(known),
        cancel: env.cancel.clone(),
        batches: Default::default(),
    });
    let mut engine = Engine::new(
        crate::plan::resources_for(&p.settings, p.state.as_ref()),
        shared,
        env.progress.clone(),
    );
    engine.concurrency = env.global.concurrency;
    engine.timings = env.timings.clone();
    engine
}

/// The IDs known to an engine after a walk.
pub fn known(engine: &Engine) -> BTreeMap<String, crate::state::Ids> {
    engine
        .shared
        .known
        .read()
        .map(|k| k.clone())
        .unwrap_or_default()
}

/// The first error of a walk, or all of them (an interruption is reported once, last).
pub fn combine(errors: Vec<Error>) -> Result<()> {
    let interrupted = errors.iter().find_map(|e| match e {
        Error::Interrupted(s) => Some(*s),
        _ => None,
    });
    let mut errors: Vec<Error> = errors
        .into_iter()
        .filter(|e| !matches!(e, Error::Interrupted(_)))
        .collect();
    if let Some(signal) = interrupted {
        errors.push(Error::Interrupted(signal));
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors
            .into_iter()
            .next()
            .unwrap_or_else(|| Error::other("failed"))),
        _ => Err(Error::Many(errors)),
    }
}
