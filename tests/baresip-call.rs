//! Two baresip phones register to the switch as users 1001 and 1002; 1001 calls 1002 through
//! the switch (407 challenge answered by baresip), 1002 answers automatically, RTP flows
//! between them for about two seconds, then 1001 hangs up.
//!
//! baresip runs headless: `aufile` plays a generated tone as the microphone, `aubridge`
//! swallows the received audio, `ctrl_tcp` (netstring JSON) drives it.
//!
//! Two runs: with the switch's default digest challenges (what a deployment gets), and with
//! `digest_algorithms = ["MD5"]`, which separates "the call flow works" from "baresip 1.0
//! (libre 1.1, Debian 12) copes with the default challenge set": that libre answers a
//! 401/407 only if *every* challenge in it is MD5 (any other algorithm aborts with ENOSYS,
//! logged as "Register: Function not implemented").
//!
//! Ports 15400-15499, per test a slot of 50 from its base: switch +0; phone 1001 SIP +10
//! (baresip also takes +11 for TLS), control +15, RTP +20..+29; phone 1002 SIP +30,
//! control +35, RTP +40..+49.

mod common;

use common::{
    HOST, Switch, baresip_command, read_lossy, require, tail, wait_until, write_tone_wav,
};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BASE: u16 = 15400;

struct Phone {
    user: &'static str,
    ctrl: u16,
    out: PathBuf,
    child: Option<Child>,
}

impl Phone {
    /// Writes a headless baresip configuration under `dir/<user>` and starts baresip.
    fn start(
        dir: &Path,
        switch: u16,
        user: &'static str,
        password: &str,
        sip: u16,
        ctrl: u16,
        rtp: u16,
        wav: &Path,
    ) -> Phone {
        let home = dir.join(user);
        fs::create_dir_all(&home).unwrap();
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{HOST}:{sip}\n\
             net_interface\t\t{HOST}\n\
             call_local_timeout\t30\n\
             call_max_calls\t\t4\n\
             audio_player\t\taubridge,play{user}\n\
             audio_source\t\taufile,{wav}\n\
             audio_alert\t\taubridge,alert{user}\n\
             rtp_ports\t\t{rtp}-{rtp_end}\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module\t\t\taubridge.so\n\
             module_tmp\t\tuuid.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t{HOST}:{ctrl}\n",
            wav = wav.display(),
            rtp_end = rtp + 9,
        );
        fs::write(home.join("config"), config).unwrap();
        fs::write(
            home.join("accounts"),
            format!("<sip:{user}@{HOST}:{switch}>;auth_pass={password};regint=60;answermode=auto;audio_codecs=PCMU\n"),
        )
        .unwrap();
        fs::write(home.join("contacts"), "").unwrap();
        let out = dir.join(format!("baresip-{user}.log"));
        let f = File::create(&out).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&home)
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start baresip");
        Phone {
            user,
            ctrl,
            out,
            child: Some(child),
        }
    }

    fn output(&self) -> String {
        common::strip_ansi(&read_lossy(&self.out))
    }

    fn cmd(&self, command: &str, params: Option<&str>) -> String {
        baresip_command(self.ctrl, command, params, Duration::from_secs(3)).unwrap_or_else(|e| {
            panic!(
                "baresip {} ctrl_tcp {command}: {e}\n{}",
                self.user,
                tail(&self.output(), 30)
            )
        })
    }

    /// Active calls according to `listcalls` ("--- Active calls (N) ---").
    fn active_calls(&self) -> Option<usize> {
        let r = baresip_command(self.ctrl, "listcalls", None, Duration::from_secs(2)).ok()?;
        let i = r.find("Active calls (")? + "Active calls (".len();
        r[i..].split(')').next()?.parse().ok()
    }

    fn diag(&self) -> String {
        format!(
            "--- baresip {} output (last 30 lines) ---\n{}",
            self.user,
            tail(&self.output().replace("    [", "\n["), 30)
        )
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            if !wait_until(Duration::from_secs(3), || {
                c.try_wait().ok().flatten().is_some()
            }) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn registered(sw: &Switch, user: &str) -> bool {
    let key = format!("user={user}");
    sw.log()
        .lines()
        .any(|l| l.contains(" registered") && !l.contains("trunk registered") && l.contains(&key))
}

/// With the switch's default challenges (`[registrar] digest_algorithms` unset).
#[test]
fn baresip_call_default_digest_algorithms() {
    baresip_call(0, "");
}

/// With MD5 challenges only, which every baresip version can answer.
#[test]
fn baresip_call_md5_only() {
    baresip_call(1, "[registrar]\ndigest_algorithms = [\"MD5\"]\n\n");
}

fn baresip_call(slot: u16, registrar: &str) {
    require("baresip");
    assert!(
        Path::new("/usr/lib/baresip/modules/ctrl_tcp.so").is_file()
            && Path::new("/usr/lib/baresip/modules/aufile.so").is_file(),
        "baresip modules missing under /usr/lib/baresip/modules: run `scripts/setup.sh` (baresip-core)"
    );
    let pw1 = "pw-1001-bare";
    let pw2 = "pw-1002-bare";
    let b = BASE + slot * 50;
    let sw = Switch::start(
        b,
        &format!(
            "{registrar}[[users]]\nname = \"1001\"\npassword = \"{pw1}\"\n\n[[users]]\nname = \"1002\"\npassword = \"{pw2}\"\n"
        ),
    );
    let dir = sw.dir().to_path_buf();
    // The aufile source ends the call when the file ends: 20 s is longer than the test.
    let wav = dir.join("tone.wav");
    write_tone_wav(&wav, 20);

    let a = Phone::start(&dir, b, "1001", pw1, b + 10, b + 15, b + 20, &wav);
    let c = Phone::start(&dir, b, "1002", pw2, b + 30, b + 35, b + 40, &wav);
    let ctx = |sw: &Switch| format!("{}\n{}\n{}", a.diag(), c.diag(), sw.diag());

    if !wait_until(Duration::from_secs(10), || {
        registered(&sw, "1001") && registered(&sw, "1002")
    }) {
        let enosys = [&a, &c]
            .iter()
            .any(|p| p.output().contains("Function not implemented"));
        let hint = if enosys {
            "\nHINT: baresip/libre answered the 401 with ENOSYS (\"Function not implemented\"): this \
             libre refuses a challenge set containing any non-MD5 algorithm (e.g. SHA-256), \
             even when an MD5 challenge comes first."
        } else {
            ""
        };
        panic!(
            "both phones should have registered within 10 s{hint}\n{}",
            ctx(&sw)
        );
    }

    let r = a.cmd("dial", Some(&format!("sip:1002@{HOST}:{b}")));
    assert!(r.contains("\"ok\":true"), "dial refused: {r}\n{}", ctx(&sw));

    let established = |p: &Phone| p.output().contains("Call established");
    assert!(
        wait_until(Duration::from_secs(10), || established(&a)
            && established(&c)),
        "the call was not established on both phones within 10 s\n{}",
        ctx(&sw)
    );
    assert_eq!(a.active_calls(), Some(1), "1001 listcalls\n{}", ctx(&sw));
    assert_eq!(c.active_calls(), Some(1), "1002 listcalls\n{}", ctx(&sw));

    // Talk for a while: RTP flows directly between the phones.
    std::thread::sleep(Duration::from_secs(2));
    let r = a.cmd("hangup", None);
    assert!(
        r.contains("\"ok\":true"),
        "hangup refused: {r}\n{}",
        ctx(&sw)
    );

    let closed =
        |p: &Phone| p.output().contains("terminated (duration") && p.active_calls() == Some(0);
    assert!(
        wait_until(Duration::from_secs(10), || closed(&a) && closed(&c)),
        "both phones should report the call closed within 10 s (1002 must have got the BYE)\n{}",
        ctx(&sw)
    );
    assert!(
        sw.wait_log(Duration::from_secs(5), |l| l.contains("call ended")
            && l.contains("status=200")),
        "the switch did not log `call ended` with status=200\n{}",
        ctx(&sw)
    );
    // Media flowed directly between the phones, both ways.
    for p in [&a, &c] {
        assert!(
            p.output().contains("incoming rtp for 'audio' established"),
            "{} received no RTP\n{}",
            p.user,
            ctx(&sw)
        );
    }
}
