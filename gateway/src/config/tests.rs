//! The config tree: defaults, file, environment, validation.

use super::*;
use secrecy::SecretString;

#[test]
fn defaults_are_valid_and_embedded() {
    let config = Config::default();
    config.validate().unwrap();
    assert!(config.database_url().starts_with("sqlite:"));
}

#[test]
fn development_tokens_only_while_the_embedded_default_is_in_force_on_loopback() {
    assert_eq!(Config::default().dev_tokens(), Ok(DevTokens::On));
    let changed = |change: &dyn Fn(&mut Config)| {
        let mut config = Config::default();
        change(&mut config);
        config.dev_tokens()
    };
    assert!(changed(&|c| c.role = Role::Gateway).is_err());
    assert!(changed(&|c| c.role = Role::Worker).is_err());
    assert!(changed(&|c| c.kafka_brokers = Some("127.0.0.1:9092".into())).is_err());
    assert!(changed(&|c| c.redis_url = Some("redis://127.0.0.1".into())).is_err());
    assert!(changed(&|c| c.auth.jwks_path = Some("jwks.json".into())).is_err());
    assert!(changed(&|c| c.auth.dev_tokens = DevTokens::Off).is_err());
    // A configured secret signs tokens other servers accept: never handed out.
    let secret = SecretString::from("s".repeat(40));
    assert!(changed(&|c| c.auth.jwt_secret = Some(secret.clone())).is_err());
    // What the image does: every address, and one named interface, are not loopback.
    for address in [
        "0.0.0.0:8000",
        "[::]:8000",
        "10.1.2.3:8000",
        "192.168.0.5:80",
    ] {
        let listen: SocketAddr = address.parse().unwrap();
        assert_eq!(
            changed(&|c| c.listen = listen),
            Err("the listener is not bound to a loopback address"),
            "{address}"
        );
    }
    for address in ["127.0.0.1:8000", "127.0.0.2:0", "[::1]:8000"] {
        let listen: SocketAddr = address.parse().unwrap();
        assert_eq!(
            changed(&|c| c.listen = listen),
            Ok(DevTokens::On),
            "{address}"
        );
    }
    assert_eq!(
        changed(&|c| c.auth.dev_tokens = DevTokens::Admin),
        Ok(DevTokens::Admin)
    );
}

#[test]
// figment's Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
fn development_tokens_grant_admin_only_when_asked_for_by_name() {
    use finpulse_graph::Role as UserRole;
    assert!(DevTokens::On.grants(UserRole::Customer) && DevTokens::On.grants(UserRole::Agent));
    assert!(!DevTokens::On.grants(UserRole::Admin));
    assert!(DevTokens::Admin.grants(UserRole::Admin));
    assert!(!DevTokens::Off.grants(UserRole::Customer));
    let read = |toml: &str| {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .extract::<Config>()
            .map(|c| c.auth.dev_tokens)
    };
    assert_eq!(read("[auth]\ndev_tokens = true").unwrap(), DevTokens::On);
    assert_eq!(read("[auth]\ndev_tokens = false").unwrap(), DevTokens::Off);
    assert_eq!(
        read("[auth]\ndev_tokens = \"admin\"").unwrap(),
        DevTokens::Admin
    );
    let typo = read("[auth]\ndev_tokens = \"root\"")
        .unwrap_err()
        .to_string();
    assert!(typo.contains("admin"), "{typo}");
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None).map_err(|e| e.to_string());
        jail.set_env("FINPULSE_AUTH__DEV_TOKENS", "admin");
        assert_eq!(load()?.auth.dev_tokens, DevTokens::Admin);
        jail.set_env("FINPULSE_AUTH__DEV_TOKENS", "false");
        assert_eq!(load()?.auth.dev_tokens, DevTokens::Off);
        Ok(())
    });
}

#[test]
fn values_that_parse_but_cannot_work_are_refused_by_name() {
    let refused = |change: &dyn Fn(&mut Config)| {
        let mut config = Config::default();
        change(&mut config);
        config.validate().unwrap_err().to_string()
    };
    assert!(refused(&|c| c.log_level = "[[[".into()).contains("log_level"));
    assert!(refused(&|c| c.websocket.max_subscriptions = 0).contains("max_subscriptions"));
    assert!(refused(&|c| c.websocket.keepalive_secs = -1.0).contains("keepalive_secs"));
    assert!(refused(&|c| c.websocket.keepalive_secs = f64::NAN).contains("keepalive_secs"));
    assert!(refused(&|c| c.auth.jwt_secret = Some(SecretString::from("a"))).contains("jwt_secret"));
    assert!(refused(&|c| c.auth.token_ttl_secs = u64::MAX).contains("token_ttl_secs"));
    assert!(refused(&|c| c.limits.request_burst_per_ip = 0).contains("limits"));
    assert!(refused(&|c| c.limits.header_read_timeout_secs = 0.0).contains("header_read"));
    assert!(refused(&|c| c.graphql.max_nesting = 1000).contains("max_nesting"));
    assert!(refused(&|c| c.fanout.max_channels = 0).contains("max_channels"));
    let mut fine = Config {
        log_level: "finpulse=debug,info".into(),
        ..Config::default()
    };
    fine.auth.jwt_secret = Some(SecretString::from("x".repeat(32)));
    fine.validate().unwrap();
}

#[test]
// figment's Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
fn files_and_env_layer_and_typos_are_errors() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "finpulse.toml",
            "listen = \"127.0.0.1:9000\"\n[market.simulator]\nspeed = 2.0\n",
        )?;
        jail.set_env("FINPULSE_MARKET__SIMULATOR__SPEED", "3.5");
        jail.set_env("FINPULSE_DATABASE_URL", "sqlite::memory:");
        jail.set_env("FINPULSE_CONFIG", "finpulse.toml");
        let config = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.market.simulator.speed, 3.5);
        assert_eq!(config.database_url(), "sqlite::memory:");
        jail.create_file("typo.toml", "lisen = \"127.0.0.1:9000\"\n")?;
        let error = Config::load(Some(Path::new("typo.toml")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("lisen"), "{error}");
        jail.set_env("FINPULSE_LOG__PARTITIONS", "0");
        assert!(Config::load(None).is_err());
        Ok(())
    });
}

#[test]
#[allow(clippy::result_large_err)]
fn ticket_rules_are_read_by_priority_name_and_bad_ones_named() {
    use finpulse_core::support::TicketPriority;
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "finpulse.toml",
            "[support.tickets]\ntriage_confidence = 0.7\n\
             [support.tickets.urgency]\ncard_declined = \"high\"\n\
             [support.tickets.sla.urgent]\nfirst_response_minutes = 5\nresolution_minutes = 60\n",
        )?;
        let config = Config::load(Some(Path::new("finpulse.toml"))).map_err(|e| e.to_string())?;
        let tickets = &config.support.tickets;
        assert_eq!(tickets.triage_confidence, 0.7);
        assert_eq!(tickets.urgency["card_declined"], TicketPriority::High);
        assert_eq!(
            tickets.urgency["card_fraud"],
            TicketPriority::Urgent,
            "defaults kept"
        );
        assert_eq!(
            tickets
                .targets(TicketPriority::Urgent)
                .first_response_minutes,
            5
        );
        assert_eq!(
            tickets.targets(TicketPriority::Low).first_response_minutes,
            24 * 60
        );
        for (file, named) in [
            (
                "[support.tickets.sla.critical]\nfirst_response_minutes = 5\nresolution_minutes = 9\n",
                "critical",
            ),
            ("[support.tickets.urgency]\ncard_fraud = \"asap\"\n", "asap"),
            (
                "[support.tickets.sla.high]\nfirst_response_minutes = 90\nresolution_minutes = 60\n",
                "sla.high",
            ),
            ("[support.tickets]\nat_risk_share = 1.5\n", "at_risk_share"),
        ] {
            jail.create_file("bad.toml", file)?;
            let error = Config::load(Some(Path::new("bad.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains(named), "{named}: {error}");
        }
        Ok(())
    });
}

#[test]
fn an_identity_provider_turns_development_tokens_off_and_its_settings_are_checked() {
    let provider = crate::auth::oidc::OidcConfig {
        issuer: "https://sso.bank.example/realms/customers".into(),
        audience: "finpulse".into(),
        roles_claim: "realm_access.roles".into(),
        role_map: [("support-agent".to_owned(), "agent".to_owned())].into(),
        jwks_max_age_secs: 3600,
        jwks_min_refetch_secs: 30,
        timeout_secs: 5,
        ca_file: None,
        login: None,
    };
    let mut config = Config::default();
    config.auth.oidc = Some(provider.clone());
    config.validate().unwrap();
    assert!(config.dev_tokens().is_err());
    let refused = |change: &dyn Fn(&mut crate::auth::oidc::OidcConfig)| {
        let mut bad = provider.clone();
        change(&mut bad);
        bad.validate().unwrap_err()
    };
    assert!(refused(&|p| p.issuer = "http://sso.bank.example".into()).contains("https://"));
    assert!(refused(&|p| p.audience = " ".into()).contains("audience"));
    assert!(
        refused(&|p| {
            p.role_map.insert("x".into(), "root".into());
        })
        .contains("root")
    );
    // A provider on this machine (tests, a local Keycloak) may be plain http.
    let mut local = provider.clone();
    local.issuer = "http://127.0.0.1:8080/realms/dev".into();
    local.validate().unwrap();
}

#[test]
fn redis_tls_files_are_read_and_a_lone_client_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let files = RedisTlsFiles {
        ca_file: Some(ca.clone()),
        ..RedisTlsFiles::default()
    };
    let loaded = files.load().unwrap();
    assert_eq!(
        loaded.ca_pem.as_deref(),
        Some(&b"-----BEGIN CERTIFICATE-----\n"[..])
    );
    assert!(loaded.client.is_none());
    let lone = RedisTlsFiles {
        client_cert: Some(ca.clone()),
        ..RedisTlsFiles::default()
    };
    assert!(lone.load().unwrap_err().to_string().contains("go together"));
    let missing = RedisTlsFiles {
        ca_file: Some(dir.path().join("absent.pem")),
        ..RedisTlsFiles::default()
    };
    assert!(
        missing
            .load()
            .unwrap_err()
            .to_string()
            .contains("redis_tls.ca_file")
    );
    assert_eq!(
        RedisTlsFiles::default().load().unwrap(),
        finpulse_core::redis_tls::RedisTls::default()
    );
}

#[test]
// figment's Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
fn a_key_that_moved_into_its_domain_says_where_it_went() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("old.toml", "[simulator]\nspeed = 2.0\n")?;
        let error = Config::load(Some(Path::new("old.toml")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("moved to market.simulator"), "{error}");
        jail.clear_env();
        jail.set_env("FINPULSE_INSTRUMENTS", "[\"IBM\"]");
        let error = Config::load(None).unwrap_err().to_string();
        assert!(error.contains("moved to market.instruments"), "{error}");
        jail.clear_env();
        jail.set_env("FINPULSE_MARKET__INSTRUMENTS", "[\"IBM\", \"drop table\"]");
        let error = Config::load(None).unwrap_err().to_string();
        assert!(error.contains("market.instruments"), "{error}");
        Ok(())
    });
}
