//! The only code that talks to AWS: gather evidence, publish the alert, attach the fix.
