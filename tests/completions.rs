//! `botevents completions SHELL`: each shell's script, read as that shell reads it where the shell
//! is installed (bash always is; zsh and fish are checked where present).

use std::path::Path;
use std::process::{Command, Output};

fn botevents(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_botevents")).args(args).output().expect("run botevents")
}

/// The script `botevents completions shell` prints (exit 0, nothing on stderr).
fn script(shell: &str) -> String {
    let out = botevents(&["completions", shell]);
    assert!(out.status.success(), "completions {shell}: {out:?}");
    assert!(out.stderr.is_empty(), "completions {shell}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 script")
}

/// The shell's path, when it is installed.
fn installed(shell: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(shell)).find(|p| p.is_file()).map(|p| p.display().to_string())
}

/// Runs `shell args... script_file`, with the script written to a file.
fn run_shell(shell: &str, args: &[&str], script: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("completions");
    std::fs::write(&file, script).unwrap();
    Command::new(shell).args(args).arg(Path::new(&file)).output().expect("run the shell")
}

#[test]
fn bash_completes_subcommands_and_options() {
    let s = script("bash");
    assert!(s.contains("_botevents()"), "defines the completion function");
    assert!(s.contains("complete -F _botevents"), "registers it for botevents");
    for word in ["export", "convert", "schema", "plan", "state", "completions", "--dest", "--simulate", "--log-format"]
    {
        assert!(s.contains(word), "mentions {word}");
    }

    let bash = installed("bash").expect("bash is installed wherever the tests run");
    let syntax = run_shell(&bash, &["-n"], &s);
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));

    // What bash offers after `botevents exp<TAB>` and `botevents export --de<TAB>`.
    let complete = |words: &str| {
        let driver = format!(
            "{s}\nCOMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _botevents botevents \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = run_shell(&bash, &[], &driver);
        assert!(out.status.success(), "{words}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(complete("botevents exp"), ["export"]);
    assert_eq!(complete("botevents export --de"), ["--dest"]);
    assert_eq!(complete("botevents completions f"), ["fish"]);
}

#[test]
fn zsh_script_defines_the_completion() {
    let s = script("zsh");
    assert!(s.starts_with("#compdef botevents"), "a zsh completion file: {}", &s[..s.len().min(80)]);
    assert!(s.contains("_botevents()"));
    assert!(s.contains("--dest=[") && s.contains("'--simulate["), "the export options");
    match installed("zsh") {
        Some(zsh) => {
            let syntax = run_shell(&zsh, &["-n"], &s);
            assert!(syntax.status.success(), "zsh -n: {}", String::from_utf8_lossy(&syntax.stderr));
        }
        None => eprintln!("zsh is not installed: its syntax check is skipped"),
    }
}

#[test]
fn fish_script_completes_each_subcommand() {
    let s = script("fish");
    assert!(s.contains("complete -c botevents"), "fish completions for botevents");
    assert!(s.contains("-a \"export\"") && s.contains("-a \"completions\""), "the subcommands");
    assert!(s.contains("-l dest"), "the --dest option");
    match installed("fish") {
        Some(fish) => {
            let syntax = run_shell(&fish, &["--no-execute"], &s);
            assert!(syntax.status.success(), "fish --no-execute: {}", String::from_utf8_lossy(&syntax.stderr));
        }
        None => eprintln!("fish is not installed: its syntax check is skipped"),
    }
}

#[test]
fn powershell_and_elvish_scripts_register_botevents() {
    let ps = script("powershell");
    assert!(ps.contains("Register-ArgumentCompleter -Native -CommandName 'botevents'"));
    assert!(ps.contains("'--dest'"));
    let elvish = script("elvish");
    assert!(elvish.contains("edit:completion:arg-completer[botevents]"));
    assert!(elvish.contains("--dest"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = botevents(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'tcsh'") && err.contains("bash"), "names the value and the choices: {err}");
    assert!(out.stdout.is_empty());
}
