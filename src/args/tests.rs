use chrono::Utc;

use botevents::config::Env;

use super::*;
use crate::env::read_config;
use botevents::config::{self, SimulatorDefaults};
use botevents::export::ExportConfig;
use botevents::ops::plan::PlanConfig;
use botevents::ops::state::StateConfig;
use botevents::secret::Secret;
use botevents::write::Destination;

/// What `export` builds from these arguments and environment.
fn configs(args: &ExportArgs, env: &Env) -> Result<Vec<ExportConfig>, botevents::Error> {
    let sim: Option<&SimulatorDefaults> = None;
    config::exports(&args.options(), env, read_config(args.config.as_deref())?, sim, Utc::now())
}

/// The one account's config.
fn one(args: &ExportArgs, env: &Env) -> Result<ExportConfig, botevents::Error> {
    config::one_account(configs(args, env)?)
}

fn plan_configs(args: &ExportArgs, env: &Env) -> Result<Vec<PlanConfig>, botevents::Error> {
    config::plans(&args.options(), env, read_config(args.config.as_deref())?, None, Utc::now())
}

fn state_configs(target: &StateTarget, bots: Vec<String>) -> Result<Vec<StateConfig>, botevents::Error> {
    config::states(&target.options(bots), &Env::default(), read_config(target.config.as_deref())?, Utc::now())
}

#[test]
fn config_file_fills_what_flags_and_environment_leave_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("botevents.toml");
    let dest = dir.path().join("lake");
    std::fs::write(
        &path,
        format!(
            "account = \"111\"\nbots = [\"b1\", \"b2\"]\ndest = {:?}\napi_url = \"https://api.example.com/\"\n\
             login_url = \"https://login.example.com/\"\napi_key = \"file-key\"\nusername = \"u\"\npassword = \"p\"\n\
             max_rps = 2.5\n[store]\naws_region = \"eu-west-1\"\n",
            dest.to_str().unwrap()
        ),
    )
    .unwrap();
    let args =
        Cli::try_parse_from(["botevents", "export", "--config", path.to_str().unwrap(), "--bot", "flag-bot"]).unwrap();
    let Command::Export(args) = args.command else { panic!("export") };
    let env = env_with(&[("BOTEVENTS_API_KEY", "env-key")]);
    let cfg = one(&args, &env).unwrap();
    assert_eq!(cfg.api.account, "111");
    assert_eq!(cfg.bots, vec!["flag-bot"], "flags win over the file");
    let args = Cli::try_parse_from([
        "botevents",
        "export",
        "--config",
        path.to_str().unwrap(),
        "--bot",
        "a",
        "--bot",
        "b",
        "--bot",
        "a",
    ])
    .unwrap();
    let Command::Export(args) = args.command else { panic!("export") };
    let env = env_with(&[("BOTEVENTS_API_KEY", "k")]);
    assert_eq!(one(&args, &env).unwrap().bots, vec!["a", "b"], "a bot named twice runs once");
    assert_eq!(cfg.api.credentials.api_key.expose(), "env-key", "environment wins over the file");
    assert_eq!(cfg.api.credentials.password.as_ref().map(Secret::expose), Some("p"));
    assert_eq!(cfg.api.max_rps.get(), 2.5, "the file's max_rps may be a fraction");
    assert_eq!(cfg.api.api_url.as_str(), "https://api.example.com/");
    assert!(dest.is_dir(), "the local destination is created");
    std::fs::write(&path, "acount = \"typo\"\n").unwrap();
    let args = Cli::try_parse_from(["botevents", "export", "--config", path.to_str().unwrap()]).unwrap();
    let Command::Export(args) = args.command else { panic!("export") };
    let err = one(&args, &Env::default()).unwrap_err().to_string();
    assert!(err.contains("botevents.toml") && err.contains("acount"), "{err}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s"), Ok(std::time::Duration::from_secs(90)));
    assert_eq!(parse_duration("30m"), Ok(std::time::Duration::from_secs(1800)));
    assert_eq!(parse_duration("2h"), Ok(std::time::Duration::from_secs(7200)));
    assert!(parse_duration("soon").is_err());
    assert_eq!(parse_duration("250ms"), Ok(std::time::Duration::from_millis(250)));
    assert!(parse_duration("0ms").is_err());
}

/// Writes `text` as botevents.toml in a fresh folder; the folder lives as long as the guard.
fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("botevents.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn export_args(path: &std::path::Path, extra: &[&str]) -> ExportArgs {
    let argv = [&["botevents", "export", "--config", path.to_str().unwrap()][..], extra].concat();
    let Command::Export(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("export") };
    *args
}

fn env_with(vars: &[(&str, &str)]) -> Env {
    Env::new(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())), Vec::new())
}

fn two_accounts(dir_dest: &str) -> String {
    format!(
        "dest = {dir_dest:?}\nmax_rps = 3\napi_url = \"https://api.example.com/\"\n\
         login_url = \"https://login.example.com/\"\n[store]\naws_region = \"eu-west-1\"\n\
         [[accounts]]\naccount = \"111\"\nbots = [\"a1\", \"a2\"]\napi_key_env = \"ACME_KEY\"\n\
         username = \"ua\"\npassword_env = \"ACME_PASSWORD\"\n\
         [[accounts]]\naccount = \"222\"\nbots = [\"b1\"]\napi_key = \"key-b\"\nusername = \"ub\"\n\
         password = \"pb\"\nmax_rps = 1\ndest = {:?}\n",
        format!("{dir_dest}-other")
    )
}

#[test]
fn several_accounts_each_with_their_own_key_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("lake");
    let (_guard, path) = config(&two_accounts(dest.to_str().unwrap()));
    let env = env_with(&[("ACME_KEY", "key-a"), ("ACME_PASSWORD", "pa")]);
    let cfgs = configs(&export_args(&path, &[]), &env).unwrap();
    assert_eq!(cfgs.len(), 2);
    let (a, b) = (&cfgs[0], &cfgs[1]);
    assert_eq!((a.api.account.as_str(), a.bots.clone()), ("111", vec!["a1".to_string(), "a2".to_string()]));
    assert_eq!(a.api.credentials.api_key.expose(), "key-a", "api_key_env names the variable");
    assert_eq!(a.api.credentials.password.as_ref().map(Secret::expose), Some("pa"));
    assert_eq!(a.api.max_rps.get(), 3.0, "the top level is every account's default");
    assert_eq!(a.dest.to_string(), Destination::open(dest.to_str().unwrap(), &[]).unwrap().to_string());
    assert_eq!((b.api.account.as_str(), b.bots.clone()), ("222", vec!["b1".to_string()]));
    assert_eq!(b.api.credentials.api_key.expose(), "key-b");
    assert_eq!(b.api.max_rps.get(), 1.0, "an entry's value wins over the top level's");
    assert!(b.dest.to_string().contains("lake-other"), "{}", b.dest);
    assert_eq!(b.api.api_url.as_str(), "https://api.example.com/");
    // Flags win over the file, for every account.
    let cfgs = configs(&export_args(&path, &["--max-rps", "2.5"]), &env).unwrap();
    assert!(cfgs.iter().all(|c| c.api.max_rps.get() == 2.5));
    // --account picks one; the environment's credentials then win over its entry's.
    let one_env = env_with(&[("ACME_KEY", "key-a"), ("ACME_PASSWORD", "pa"), ("BOTEVENTS_PASSWORD", "env-pb")]);
    let cfg = one(&export_args(&path, &["--account", "222", "--bot", "b9"]), &one_env).unwrap();
    assert_eq!((cfg.api.account.as_str(), cfg.bots.clone()), ("222", vec!["b9".to_string()]));
    assert_eq!(cfg.api.credentials.password.as_ref().map(Secret::expose), Some("env-pb"));
    let err = configs(&export_args(&path, &["--account", "333"]), &env).unwrap_err();
    assert!(err.to_string().contains("\"333\" is not in the file (it lists 111, 222)"), "{err}");
    assert_eq!(err.exit(), botevents::exit::Exit::Usage);
    // What belongs to one account is refused for several, naming it.
    let err = configs(&export_args(&path, &["--bot", "x"]), &env).unwrap_err();
    assert!(err.to_string().contains("--bot") && err.to_string().contains("--account ID"), "{err}");
    let key_env = env_with(&[("ACME_KEY", "key-a"), ("ACME_PASSWORD", "pa"), ("BOTEVENTS_API_KEY", "one-key")]);
    let err = configs(&export_args(&path, &[]), &key_env).unwrap_err().to_string();
    assert!(err.contains("BOTEVENTS_API_KEY") && err.contains("runs 2"), "{err}");
    assert!(!err.contains("one-key"), "secrets are never printed: {err}");
    // One-account commands say how to pick one.
    let err = one(&export_args(&path, &[]), &env).unwrap_err().to_string();
    assert!(err.contains("--account ID"), "{err}");
    let plans = plan_configs(&export_args(&path, &[]), &env).unwrap();
    assert_eq!(plans.iter().map(|p| p.account.as_str()).collect::<Vec<_>>(), ["111", "222"]);
}

#[test]
fn account_entries_are_validated_naming_the_account_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("lake");
    let dest = dest.to_str().unwrap();
    let base = two_accounts(dest);
    // An account without an API key.
    let (_g, path) = config(&base.replace("api_key_env = \"ACME_KEY\"\n", ""));
    let env = env_with(&[("ACME_PASSWORD", "pa")]);
    let err = configs(&export_args(&path, &[]), &env).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("botevents.toml") && text.contains("account \"111\": no API key"), "{text}");
    assert_eq!(err.exit(), botevents::exit::Exit::Usage);
    // A variable named but not set.
    let (_g, path) = config(&base);
    let err = configs(&export_args(&path, &[]), &env).unwrap_err().to_string();
    assert!(err.contains("account \"111\"") && err.contains("ACME_KEY, which is not set"), "{err}");
    // Unknown keys, in an entry or at the top level, are refused by name.
    let (_g, path) = config(&base.replace("bots = [\"b1\"]", "bots = [\"b1\"]\napi_kee = \"x\""));
    let err = configs(&export_args(&path, &[]), &Env::default()).unwrap_err();
    assert!(err.to_string().contains("api_kee"), "{err}");
    // The top level cannot hold one account's id or bots next to [[accounts]].
    let (_g, path) = config(&format!("account = \"9\"\n{base}"));
    let err = configs(&export_args(&path, &[]), &Env::default()).unwrap_err();
    assert!(err.to_string().contains("belong in the [[accounts]] entries"), "{err}");
    // An account listed twice, an entry without an id, a secret given twice.
    let (_g, path) = config(&format!("{base}[[accounts]]\naccount = \"222\"\n"));
    let err = configs(&export_args(&path, &[]), &Env::default()).unwrap_err();
    assert!(err.to_string().contains("\"222\" is listed twice"), "{err}");
    let (_g, path) = config(&format!("{base}[[accounts]]\nbots = [\"c\"]\n"));
    let err = configs(&export_args(&path, &[]), &Env::default()).unwrap_err();
    assert!(err.to_string().contains("entry 3 has no `account`"), "{err}");
    let (_g, path) = config(&base.replace("api_key = \"key-b\"", "api_key = \"key-b\"\napi_key_env = \"B\""));
    let err = configs(&export_args(&path, &["--account", "222"]), &env_with(&[])).unwrap_err();
    assert!(err.to_string().contains("either api_key or api_key_env"), "{err}");
    // The single-account form takes *_env keys too.
    let (_g, path) =
        config("account = \"5\"\nbots = [\"x\"]\napi_key_env = \"K\"\nusername = \"u\"\npassword = \"p\"\n");
    let cfg = one(&export_args(&path, &[]), &env_with(&[("K", "kk")])).unwrap();
    assert_eq!(cfg.api.credentials.api_key.expose(), "kk");
}

#[test]
fn state_targets_cover_every_account_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("lake");
    let (_g, path) = config(&two_accounts(dest.to_str().unwrap()));
    let parse = |extra: &[&str]| {
        let argv = [&["botevents", "state", "show", "--config", path.to_str().unwrap()][..], extra].concat();
        let Command::State(StateArgs { action: StateAction::Show(a) }) = Cli::try_parse_from(argv).unwrap().command
        else {
            panic!("state show")
        };
        a
    };
    let a = parse(&[]);
    let cfgs = state_configs(&a.target, a.bots).unwrap();
    assert_eq!(cfgs.iter().map(|c| c.account.as_str()).collect::<Vec<_>>(), ["111", "222"]);
    assert!(cfgs[1].dest.to_string().contains("lake-other"));
    let a = parse(&["--account", "222", "--bot", "b1"]);
    let cfg = state_configs(&a.target, a.bots).and_then(config::one_account).unwrap();
    assert_eq!((cfg.account.as_str(), cfg.bots.len()), ("222", 1));
    let a = parse(&["--bot", "b1"]);
    assert!(state_configs(&a.target, a.bots).is_err());
}

#[test]
fn simulate_takes_an_account_mix_and_max_retry_time_a_duration() {
    let cli = Cli::try_parse_from(["botevents", "simulate", "--bots", "busy:120000, quiet:50"]).unwrap();
    let Command::Simulate(args) = cli.command else { panic!("simulate") };
    assert_eq!(args.bots, vec![("busy".to_string(), 120_000), ("quiet".to_string(), 50)]);
    for bad in ["busy", ":5", "busy:many"] {
        assert!(Cli::try_parse_from(["botevents", "simulate", "--bots", bad]).is_err(), "{bad}");
    }
    let cli = Cli::try_parse_from(["botevents", "export", "--max-retry-time", "90s"]).unwrap();
    let Command::Export(args) = cli.command else { panic!("export") };
    assert_eq!(args.options().max_retry_time, std::time::Duration::from_secs(90));
}

/// `--sim-row-cap` sets the simulator's download cap (the vendor's unless given); 0 is refused.
#[test]
fn simulate_takes_a_row_cap() {
    let service = |extra: &[&str]| {
        let cli = Cli::try_parse_from([&["botevents", "simulate"], extra].concat()).unwrap();
        let Command::Simulate(args) = cli.command else { panic!("simulate") };
        args.service.apply(botevents_simulator::SimConfig::default())
    };
    assert_eq!(service(&[]).row_cap, botevents_simulator::SimConfig::default().row_cap);
    assert_eq!(service(&["--sim-row-cap", "10000"]).row_cap, 10_000);
    assert!(Cli::try_parse_from(["botevents", "simulate", "--sim-row-cap", "0"]).is_err());
}

/// `--max-rps` takes fractions, so that two tasks can share one key's 5 requests/second, and
/// refuses a budget that cannot pace requests, quoting it.
#[test]
fn max_rps_takes_fractions() {
    let parse = |v: &str| Cli::try_parse_from(["botevents".to_string(), "export".into(), format!("--max-rps={v}")]);
    let Command::Export(args) = parse("2.5").unwrap().command else { panic!("export") };
    assert_eq!(args.options().max_rps.map(|r| r.get()), Some(2.5));
    let Command::Export(args) = parse("5").unwrap().command else { panic!("export") };
    assert_eq!(args.options().max_rps.map(|r| r.get()), Some(5.0));
    for bad in ["0", "-2.5", "NaN", "inf", "fast"] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}: {err}");
        assert!(err.to_string().contains("--max-rps"), "{err}");
    }
}
