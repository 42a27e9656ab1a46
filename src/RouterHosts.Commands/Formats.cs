namespace RouterHosts;

/// <summary>File formats of Import-RouterHost and Export-RouterHost.</summary>
public enum RouterHostsFormat
{
    /// <summary>The /etc/hosts format: "ip hostname [aliases...] [# [tags] comment]".</summary>
    Hosts,
    /// <summary>A JSON array of host objects.</summary>
    Json,
    /// <summary>CSV with the header id,ip_address,hostname,comment,tags,aliases.</summary>
    Csv,
}

/// <summary>What Import-RouterHost does with an entry whose IP and hostname (or id) already exist.</summary>
public enum RouterHostsConflictMode
{
    /// <summary>Keep the existing entry.</summary>
    Skip,
    /// <summary>Overwrite the existing entry with the imported one.</summary>
    Replace,
    /// <summary>Import nothing and report every conflict.</summary>
    Strict,
}
