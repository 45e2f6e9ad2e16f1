//! twinvault: an S3 gateway that encrypts every object with the customer's keys and writes it
//! to two upstream S3 stores in different regions.
pub mod envelope;
pub mod keyring;
