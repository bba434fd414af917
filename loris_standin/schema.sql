-- The tables of a LORIS site that the imaging uploader reads and writes, with LORIS's names and types:
-- a stand-in for a real LORIS database, for development and the tests. Only the columns the uploader
-- uses (or a LORIS row needs) are here; a real site has many more. Loading it again changes nothing.
-- Each statement ends with a semicolon at the end of its line (loris_standin/tables.py splits on them).

CREATE TABLE IF NOT EXISTS `psc` (
  `CenterID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `Name` varchar(150) NOT NULL DEFAULT '',
  `Alias` char(3) NOT NULL DEFAULT '',
  `MRI_alias` varchar(4) NOT NULL DEFAULT '',
  `Study_site` enum('N','Y') DEFAULT 'Y',
  PRIMARY KEY (`CenterID`),
  UNIQUE KEY `Name` (`Name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `Project` (
  `ProjectID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `Name` varchar(255) NOT NULL,
  `Alias` char(4) NOT NULL,
  PRIMARY KEY (`ProjectID`),
  UNIQUE KEY `u_ProjectName` (`Name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `candidate` (
  `ID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `CandID` int(6) NOT NULL,
  `PSCID` varchar(255) NOT NULL DEFAULT '',
  `RegistrationCenterID` int(10) unsigned NOT NULL,
  `RegistrationProjectID` int(10) unsigned NOT NULL,
  `Active` enum('Y','N') NOT NULL DEFAULT 'Y',
  `Entity_type` enum('Human','Scanner') NOT NULL DEFAULT 'Human',
  PRIMARY KEY (`ID`),
  UNIQUE KEY `CandID` (`CandID`),
  KEY `PSCID` (`PSCID`),
  CONSTRAINT `FK_candidate_RegistrationCenterID` FOREIGN KEY (`RegistrationCenterID`) REFERENCES `psc` (`CenterID`),
  CONSTRAINT `FK_candidate_RegistrationProjectID` FOREIGN KEY (`RegistrationProjectID`) REFERENCES `Project` (`ProjectID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A visit. CandidateID is candidate.ID, the internal key, not the public CandID.
CREATE TABLE IF NOT EXISTS `session` (
  `ID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `CandidateID` int(10) unsigned NOT NULL,
  `CenterID` int(10) unsigned NOT NULL,
  `ProjectID` int(10) unsigned NOT NULL,
  `Visit_label` varchar(255) NOT NULL,
  `Active` enum('Y','N') NOT NULL DEFAULT 'Y',
  PRIMARY KEY (`ID`),
  KEY `session_candidate_visit` (`CandidateID`, `Visit_label`),
  CONSTRAINT `FK_session_CandidateID` FOREIGN KEY (`CandidateID`) REFERENCES `candidate` (`ID`),
  CONSTRAINT `FK_session_CenterID` FOREIGN KEY (`CenterID`) REFERENCES `psc` (`CenterID`),
  CONSTRAINT `FK_session_ProjectID` FOREIGN KEY (`ProjectID`) REFERENCES `Project` (`ProjectID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Password_hash: PHP's password_hash(..., PASSWORD_DEFAULT), bcrypt under the prefix $2y$.
CREATE TABLE IF NOT EXISTS `users` (
  `ID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `UserID` varchar(255) NOT NULL DEFAULT '',
  `Real_name` varchar(255) DEFAULT NULL,
  `Email` varchar(255) NOT NULL DEFAULT '',
  `Active` enum('Y','N') NOT NULL DEFAULT 'Y',
  `Password_hash` varchar(255) DEFAULT NULL,
  `PasswordChangeRequired` tinyint(1) NOT NULL DEFAULT 0,
  `Pending_approval` enum('Y','N') DEFAULT 'Y',
  `active_from` date DEFAULT NULL,
  `active_to` date DEFAULT NULL,
  PRIMARY KEY (`ID`),
  UNIQUE KEY `UserID` (`UserID`),
  UNIQUE KEY `Email` (`Email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `permissions` (
  `permID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `code` varchar(255) NOT NULL DEFAULT '',
  `description` varchar(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`permID`),
  UNIQUE KEY `code` (`code`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `user_perm_rel` (
  `userID` int(10) unsigned NOT NULL,
  `permID` int(10) unsigned NOT NULL,
  PRIMARY KEY (`userID`, `permID`),
  CONSTRAINT `FK_user_perm_rel_userID` FOREIGN KEY (`userID`) REFERENCES `users` (`ID`) ON DELETE CASCADE,
  CONSTRAINT `FK_user_perm_rel_permID` FOREIGN KEY (`permID`) REFERENCES `permissions` (`permID`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A user's sites; UserID is users.ID.
CREATE TABLE IF NOT EXISTS `user_psc_rel` (
  `UserID` int(10) unsigned NOT NULL,
  `CenterID` int(10) unsigned NOT NULL,
  PRIMARY KEY (`UserID`, `CenterID`),
  CONSTRAINT `FK_user_psc_rel_UserID` FOREIGN KEY (`UserID`) REFERENCES `users` (`ID`) ON DELETE CASCADE,
  CONSTRAINT `FK_user_psc_rel_CenterID` FOREIGN KEY (`CenterID`) REFERENCES `psc` (`CenterID`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A user's projects; UserID is users.ID.
CREATE TABLE IF NOT EXISTS `user_project_rel` (
  `UserID` int(10) unsigned NOT NULL,
  `ProjectID` int(10) unsigned NOT NULL,
  PRIMARY KEY (`UserID`, `ProjectID`),
  CONSTRAINT `FK_user_project_rel_UserID` FOREIGN KEY (`UserID`) REFERENCES `users` (`ID`) ON DELETE CASCADE,
  CONSTRAINT `FK_user_project_rel_ProjectID` FOREIGN KEY (`ProjectID`) REFERENCES `Project` (`ProjectID`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Settings by name (ConfigSettings) and their values (Config).
CREATE TABLE IF NOT EXISTS `ConfigSettings` (
  `ID` int(11) NOT NULL AUTO_INCREMENT,
  `Name` varchar(255) NOT NULL,
  `Description` varchar(255) DEFAULT NULL,
  `DataType` enum('text','boolean','path') DEFAULT NULL,
  `Label` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`ID`),
  UNIQUE KEY `Name` (`Name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `Config` (
  `ID` int(11) NOT NULL AUTO_INCREMENT,
  `ConfigID` int(11) DEFAULT NULL,
  `Value` text DEFAULT NULL,
  PRIMARY KEY (`ID`),
  KEY `ConfigID` (`ConfigID`),
  CONSTRAINT `FK_Config_ConfigID` FOREIGN KEY (`ConfigID`) REFERENCES `ConfigSettings` (`ID`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A DICOM archive of LORIS-MRI; only its key and a few columns, for mri_upload.TarchiveID's reference.
CREATE TABLE IF NOT EXISTS `tarchive` (
  `TarchiveID` int(11) NOT NULL AUTO_INCREMENT,
  `DicomArchiveID` varchar(255) NOT NULL DEFAULT '',
  `PatientName` varchar(255) NOT NULL DEFAULT '',
  `ArchiveLocation` varchar(255) DEFAULT NULL,
  `SessionID` int(10) unsigned DEFAULT NULL,
  PRIMARY KEY (`TarchiveID`),
  KEY `SessionID` (`SessionID`),
  CONSTRAINT `FK_tarchive_SessionID` FOREIGN KEY (`SessionID`) REFERENCES `session` (`ID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per uploaded archive. Progress: Inserting NULL, not started; 1, in progress;
-- 0 with InsertionComplete 0, failure; 0 with InsertionComplete 1, success.
CREATE TABLE IF NOT EXISTS `mri_upload` (
  `UploadID` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `UploadedBy` varchar(255) NOT NULL DEFAULT '',
  `UploadDate` datetime DEFAULT NULL,
  `UploadLocation` varchar(255) NOT NULL DEFAULT '',
  `DecompressedLocation` varchar(255) NOT NULL DEFAULT '',
  `InsertionComplete` tinyint(1) NOT NULL DEFAULT 0,
  `Inserting` tinyint(1) DEFAULT NULL,
  `PatientName` varchar(255) NOT NULL DEFAULT '',
  `number_of_mincInserted` int(11) DEFAULT NULL,
  `number_of_mincCreated` int(11) DEFAULT NULL,
  `TarchiveID` int(11) DEFAULT NULL,
  `SessionID` int(10) unsigned DEFAULT NULL,
  `IsCandidateInfoValidated` tinyint(1) DEFAULT NULL,
  `IsTarchiveValidated` tinyint(1) NOT NULL DEFAULT 0,
  `IsPhantom` enum('N','Y') NOT NULL DEFAULT 'N',
  PRIMARY KEY (`UploadID`),
  KEY `SessionID` (`SessionID`),
  KEY `TarchiveID` (`TarchiveID`),
  CONSTRAINT `FK_mriupload_SessionID` FOREIGN KEY (`SessionID`) REFERENCES `session` (`ID`),
  CONSTRAINT `FK_mriupload_TarchiveID` FOREIGN KEY (`TarchiveID`) REFERENCES `tarchive` (`TarchiveID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `notification_types` (
  `NotificationTypeID` int(11) NOT NULL AUTO_INCREMENT,
  `Type` varchar(255) NOT NULL DEFAULT '',
  `private` tinyint(1) DEFAULT 0,
  `Description` text DEFAULT NULL,
  PRIMARY KEY (`NotificationTypeID`),
  UNIQUE KEY `Type` (`Type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The pipeline's log: one row per message of an upload (ProcessID is mri_upload.UploadID).
CREATE TABLE IF NOT EXISTS `notification_spool` (
  `NotificationID` int(11) NOT NULL AUTO_INCREMENT,
  `NotificationTypeID` int(11) NOT NULL,
  `ProcessID` int(11) NOT NULL,
  `TimeSpooled` datetime DEFAULT NULL,
  `Message` text DEFAULT NULL,
  `Error` enum('Y','N') DEFAULT NULL,
  `Verbose` enum('Y','N') NOT NULL DEFAULT 'N',
  `Sent` enum('N','Y') NOT NULL DEFAULT 'N',
  `CenterID` int(10) unsigned DEFAULT NULL,
  `Origin` varchar(255) DEFAULT NULL,
  `Active` enum('Y','N') NOT NULL DEFAULT 'Y',
  PRIMARY KEY (`NotificationID`),
  KEY `FK_notification_spool_NotificationTypeID` (`NotificationTypeID`),
  KEY `FK_notification_spool_CenterID` (`CenterID`),
  CONSTRAINT `FK_notification_spool_NotificationTypeID` FOREIGN KEY (`NotificationTypeID`) REFERENCES `notification_types` (`NotificationTypeID`),
  CONSTRAINT `FK_notification_spool_CenterID` FOREIGN KEY (`CenterID`) REFERENCES `psc` (`CenterID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The permission codes the uploader reads (LORIS 27 and later).
INSERT IGNORE INTO `permissions` (`code`, `description`) VALUES
  ('superuser', 'Superuser: supersedes all permissions'),
  ('imaging_uploader_allsites', 'Imaging Uploader: uploads of all sites'),
  ('imaging_uploader_ownsites', 'Imaging Uploader: uploads of the user''s own sites'),
  ('imaging_uploader_nosessionid', 'Imaging Uploader: uploads with no session (phantoms)');

-- The settings the uploader reads, each with LORIS's default value (kept when one is set already).
INSERT IGNORE INTO `ConfigSettings` (`Name`, `Description`, `DataType`, `Label`) VALUES
  ('ImagingUploaderAutoLaunch', 'Launch the imaging pipeline as soon as an upload is saved', 'boolean', 'Imaging Uploader auto launch'),
  ('useAdvancedPermissions', 'Limit access by sites and projects both', 'boolean', 'Use advanced permissions'),
  ('MRIUploadIncomingPath', 'Where the Imaging Uploader keeps uploaded files', 'path', 'Imaging Uploader incoming path');

INSERT INTO `Config` (`ConfigID`, `Value`)
SELECT s.`ID`, d.`Value`
FROM `ConfigSettings` s
JOIN (SELECT 'ImagingUploaderAutoLaunch' AS `Name`, '0' AS `Value`
      UNION ALL SELECT 'useAdvancedPermissions', 'false'
      UNION ALL SELECT 'MRIUploadIncomingPath', '/data/incoming/') d ON d.`Name` = s.`Name`
WHERE NOT EXISTS (SELECT 1 FROM `Config` c WHERE c.`ConfigID` = s.`ID`);

-- The types of the log rows: the pipeline's, and the launch failures' of LORIS's module.
INSERT IGNORE INTO `notification_types` (`Type`, `private`, `Description`) VALUES
  ('mri upload runner', 1, 'Validation of DICOMS before uploading'),
  ('mri upload handler emergency', 1, 'MRI upload handler emergencies');
