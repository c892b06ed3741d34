//! `finpulse audit verify`: reads the whole audit log and checks its hash chain, so an edited,
//! removed or re-linked entry is found (see `finpulse_store::audit`).

use anyhow::Context;
use clap::Subcommand;

use crate::backends::open_store;
use crate::config::Config;

/// What `finpulse audit` does.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash and link; exit 1 naming the first break. Prints the head hash:
    /// keep it elsewhere and pass it back with `--head` to also detect removed newest entries.
    Verify {
        /// A head hash printed by an earlier run; the log must still contain it.
        #[arg(long)]
        head: Option<String>,
    },
}

/// Runs `finpulse audit …`.
pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { head } => {
            if let Some(head) = &head
                && (head.len() != 64 || !head.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                anyhow::bail!("--head must be a 64-digit hex hash as `audit verify` prints it");
            }
            let store = open_store(config).await?;
            let report = finpulse_store::AuditData::verify_audit_chain(&store, head.as_deref())
                .await
                .context("failed to read the audit log")?;
            if let Some(broken) = report.broken {
                anyhow::bail!(
                    "audit log broken after {} entries read: {broken}",
                    report.entries
                );
            }
            match report.head {
                Some(head) => println!("audit log intact: {} entries, head {head}", report.entries),
                None => println!("audit log intact: empty"),
            }
            Ok(())
        }
    }
}
