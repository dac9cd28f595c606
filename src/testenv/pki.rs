//! The freshly generated PKI of one control plane.

use super::TestEnvError;
use crate::SecretBytes;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// PEM material of the test PKI, and the CA that signs further client certificates.
pub(crate) struct Pki {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) ca_pem: String,
    pub(crate) ca_key_pem: SecretBytes,
    pub(crate) serving_cert_pem: String,
    pub(crate) serving_key_pem: SecretBytes,
    pub(crate) admin_cert_pem: String,
    pub(crate) admin_key_pem: SecretBytes,
    pub(crate) service_account_key_pem: SecretBytes,
    pub(crate) service_account_pub_pem: String,
}

fn pki_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> TestEnvError {
    move |e| TestEnvError::Pki {
        what,
        source: Box::new(e),
    }
}

fn key(what: &'static str) -> Result<KeyPair, TestEnvError> {
    KeyPair::generate().map_err(pki_err(what))
}

fn secret(key: &KeyPair) -> SecretBytes {
    SecretBytes::new(key.serialize_pem().into_bytes())
}

impl Pki {
    /// A CA, a serving certificate for `127.0.0.1`, `::1`, `localhost` and the in-cluster
    /// names of the `kubernetes` service, an admin client certificate (`CN=admin`,
    /// `O=system:masters`) and a service-account signing key. All keys are ECDSA P-256.
    /// `extra_ips` are added to the serving certificate's subject alternative names
    /// (the addresses of further API servers).
    pub(crate) fn generate_for(extra_ips: &[Ipv4Addr]) -> Result<Self, TestEnvError> {
        let (issuer, ca_pem, ca_key_pem) = certificate_authority("CA", "k8s-client-testenv-ca")?;

        let ips = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            // The first address of --service-cluster-ip-range (the `kubernetes` service).
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        ]
        .into_iter()
        .chain(extra_ips.iter().map(|ip| IpAddr::V4(*ip)));
        let (serving_cert_pem, serving_key_pem) = serving_certificate(
            "serving certificate",
            "kube-apiserver",
            &[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips,
            &issuer,
        )?;

        let (admin_cert_pem, admin_key_pem) =
            issue_client_certificate(&issuer, "admin", Some("system:masters"))?;

        let sa_key = key("service-account signing key")?;
        Ok(Self {
            issuer,
            ca_pem,
            ca_key_pem,
            serving_cert_pem,
            serving_key_pem,
            admin_cert_pem,
            admin_key_pem,
            service_account_key_pem: secret(&sa_key),
            service_account_pub_pem: sa_key.public_key_pem(),
        })
    }
}

impl Pki {
    /// A client certificate (`CN=common_name`, `O=group`) for a fresh ECDSA
    /// P-256 key, signed by the CA: its PEM and the key's PEM (PKCS#8).
    pub(crate) fn issue_client_certificate(
        &self,
        common_name: &str,
        group: Option<&str>,
    ) -> Result<(String, SecretBytes), TestEnvError> {
        issue_client_certificate(&self.issuer, common_name, group)
    }

    /// A client certificate (`CN=common_name`, `O=group`) for the public half of
    /// `key` (PKCS#8 PEM), signed by the CA.
    pub(crate) fn sign_client_certificate(
        &self,
        key_pem: &str,
        common_name: &str,
        group: Option<&str>,
    ) -> Result<String, TestEnvError> {
        const WHAT: &str = "client certificate";
        let key = KeyPair::from_pem(key_pem).map_err(pki_err(WHAT))?;
        let params = client_params(common_name, group)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(pki_err(WHAT))?;
        Ok(cert.pem())
    }
}

/// The TLS material between the API server and the front of routable simulated nodes.
pub(crate) struct KubeletTls {
    /// The front's certificate for the nodes' address, signed by the environment's CA.
    pub(crate) serving_cert_pem: String,
    pub(crate) serving_key_pem: SecretBytes,
    /// A CA of its own that signs one certificate, the API server's kubelet client
    /// certificate: the only client the front lets through.
    pub(crate) client_ca_pem: String,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: SecretBytes,
}

impl Pki {
    /// A serving certificate for `ip` signed by the environment's CA, and a client
    /// certificate (`CN=kube-apiserver-kubelet-client`) from a fresh CA that signs
    /// nothing else.
    pub(crate) fn kubelet_tls(&self, ip: Ipv4Addr) -> Result<KubeletTls, TestEnvError> {
        let (serving_cert_pem, serving_key_pem) = serving_certificate(
            "kubelet serving certificate",
            "k8s-client-testenv-kubelet",
            &[],
            [IpAddr::V4(ip)],
            &self.issuer,
        )?;
        let (client_issuer, client_ca_pem, _) =
            certificate_authority("kubelet client CA", "k8s-client-testenv-kubelet-client-ca")?;
        let (client_cert_pem, client_key_pem) =
            issue_client_certificate(&client_issuer, "kube-apiserver-kubelet-client", None)?;
        Ok(KubeletTls {
            serving_cert_pem,
            serving_key_pem,
            client_ca_pem,
            client_cert_pem,
            client_key_pem,
        })
    }
}

/// A serving certificate (`CN=common_name`) for the DNS `names` and the `ips`, signed by
/// `issuer`: its PEM and the key's PEM.
fn serving_certificate(
    what: &'static str,
    common_name: &str,
    names: &[&str],
    ips: impl IntoIterator<Item = IpAddr>,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, SecretBytes), TestEnvError> {
    let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let mut params = CertificateParams::new(names).map_err(pki_err(what))?;
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    leaf(what, params, ExtendedKeyUsagePurpose::ServerAuth, issuer)
}

/// A self-signed CA (`CN=common_name`): its issuer, certificate PEM and key PEM.
fn certificate_authority(
    what: &'static str,
    common_name: &str,
) -> Result<(Issuer<'static, KeyPair>, String, SecretBytes), TestEnvError> {
    let ca_key = key(what)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err(what))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&ca_key).map_err(pki_err(what))?;
    let key_pem = secret(&ca_key);
    Ok((Issuer::new(params, ca_key), cert.pem(), key_pem))
}

/// The subject of a client certificate: the API server takes the user name from `CN`
/// and the group from `O`.
fn client_params(
    common_name: &str,
    group: Option<&str>,
) -> Result<CertificateParams, TestEnvError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(pki_err("client certificate"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if let Some(group) = group {
        params
            .distinguished_name
            .push(DnType::OrganizationName, group);
    }
    Ok(params)
}

fn issue_client_certificate(
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    group: Option<&str>,
) -> Result<(String, SecretBytes), TestEnvError> {
    leaf(
        "client certificate",
        client_params(common_name, group)?,
        ExtendedKeyUsagePurpose::ClientAuth,
        issuer,
    )
}

/// Signs a leaf certificate for a fresh key: its PEM and the key's PEM.
fn leaf(
    what: &'static str,
    mut params: CertificateParams,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, SecretBytes), TestEnvError> {
    let leaf_key = key(what)?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&leaf_key, issuer).map_err(pki_err(what))?;
    Ok((cert.pem(), secret(&leaf_key)))
}
