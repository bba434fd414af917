-- LORIS site mode with LORIS's useAdvancedPermissions (issue 25): own sites also means own projects, so who may
-- see an upload depends on its candidate's project (Project.Name) as on its site. Filled as the site is: from the
-- validator's verdict. NULL in standalone mode, for a phantom, and for uploads made before this column.
ALTER TABLE gateway.uploads ADD COLUMN project text;
ALTER TABLE logstore.uploads ADD COLUMN project text;
