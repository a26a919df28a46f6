import Foundation

/// The catalogue: every operation, in the order the API document and `hop operations` list them.
/// An operation added to HopCore is added here (one line); its route, OpenAPI entry and remote CLI
/// support follow from its declaration.
let catalogueOperations: [any HopOperation.Type] = [
    HealthCheck.self, WhoAmIOperation.self,
    // Apps
    ListApps.self, ListDomains.self, ListGenerations.self, AppInfoOperation.self, ListProcesses.self,
    GetConfig.self, GetEnvironment.self, ChangeConfig.self, Deploy.self, DeploySource.self, Rollback.self,
    Scale.self, StartApp.self, StopApp.self, RestartApp.self, Logs.self, AppAudit.self, DestroyApp.self,
    AppCredentials.self, CollectGarbage.self, AppMetrics.self, HostMetrics.self, PrometheusMetrics.self,
    // Alerts and notifications
    ListAlerts.self, SilenceAlerts.self, EndSilence.self, ListNotifyChannels.self, AddNotifyChannel.self, RemoveNotifyChannel.self,
    TestNotifyChannel.self,
    // Backups
    ListBackups.self, CreateBackup.self, ShowBackup.self, VerifyBackup.self, RestoreBackup.self, DestroyBackup.self,
    PruneBackups.self, GetBackupSchedule.self, SetBackupSchedule.self, RemoveBackupSchedule.self,
    // Addons
    ListAddons.self, CreateAddon.self, ShowAddon.self, AddonCredentials.self, DestroyAddon.self, MigrateAddon.self,
    AttachAddon.self, DetachAddon.self,
    // Builds
    ListBuilds.self, GetBuild.self, BuildSBOM.self, BuildProvenance.self, VerifyBuild.self,
    // Access
    ListUsers.self, AddUser.self, RemoveUser.self, SetPassword.self, ListTokens.self, CreateToken.self, RevokeToken.self,
    ReadAudit.self, VerifyAudit.self, CheckpointAudit.self,
    // Git push keys
    ListSSHKeys.self, AddSSHKey.self, RemoveSSHKey.self,
    // Promotion: trusted signing keys
    ListTrustedKeys.self, TrustKey.self, DistrustKey.self,
    // This machine only (no route)
    ImportSeeds.self, GenerateSigningKey.self,
    // Seeds
    ListSeeds.self,
]
