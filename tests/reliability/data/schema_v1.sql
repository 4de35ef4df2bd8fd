-- drxlab schema version 1 (first released schema), as created by drxlab 0.1.0 (SQLModel create_all).
-- Frozen: do not edit. Used to check that migrations upgrade real v1 stores.
CREATE TABLE meta (
	"key" VARCHAR NOT NULL, 
	value VARCHAR NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE campaign (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	revision INTEGER NOT NULL, 
	spec_text VARCHAR NOT NULL, 
	spec_hash VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name, revision)
);
CREATE INDEX ix_campaign_name ON campaign (name);
CREATE INDEX ix_campaign_spec_hash ON campaign (spec_hash);
CREATE TABLE material (
	id INTEGER NOT NULL, 
	formula VARCHAR NOT NULL, 
	amounts_json VARCHAR NOT NULL, 
	oxidation_json VARCHAR NOT NULL, 
	n_metals INTEGER NOT NULL, 
	klass VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_material_formula ON material (formula);
CREATE INDEX ix_material_klass ON material (klass);
CREATE TABLE sourcefile (
	id INTEGER NOT NULL, 
	sha256 VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	format VARCHAR NOT NULL, 
	imported_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_sourcefile_sha256 ON sourcefile (sha256);
CREATE TABLE modelversion (
	id INTEGER NOT NULL, 
	sha256 VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	parent_id INTEGER, 
	n_members INTEGER NOT NULL, 
	config_json VARCHAR NOT NULL, 
	training_json VARCHAR NOT NULL, 
	metrics_json VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	weights BLOB NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(parent_id) REFERENCES modelversion (id)
);
CREATE UNIQUE INDEX ix_modelversion_sha256 ON modelversion (sha256);
CREATE TABLE sample (
	id INTEGER NOT NULL, 
	material_id INTEGER NOT NULL, 
	campaign_id INTEGER, 
	status VARCHAR NOT NULL, 
	round INTEGER, 
	notes VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(material_id) REFERENCES material (id), 
	FOREIGN KEY(campaign_id) REFERENCES campaign (id)
);
CREATE INDEX ix_sample_material_id ON sample (material_id);
CREATE INDEX ix_sample_campaign_id ON sample (campaign_id);
CREATE INDEX ix_sample_status ON sample (status);
CREATE TABLE currentmodel (
	scope VARCHAR NOT NULL, 
	version_id INTEGER NOT NULL, 
	PRIMARY KEY (scope), 
	FOREIGN KEY(version_id) REFERENCES modelversion (id)
);
CREATE TABLE electrochemtest (
	id INTEGER NOT NULL, 
	sample_id INTEGER NOT NULL, 
	rate FLOAT NOT NULL, 
	v_low FLOAT NOT NULL, 
	v_high FLOAT NOT NULL, 
	active_mass FLOAT, 
	electrode_mass FLOAT, 
	source_file VARCHAR NOT NULL, 
	source_sha256 VARCHAR NOT NULL, 
	instrument VARCHAR NOT NULL, 
	"virtual" BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(sample_id) REFERENCES sample (id)
);
CREATE INDEX ix_electrochemtest_sample_id ON electrochemtest (sample_id);
CREATE INDEX ix_electrochemtest_source_sha256 ON electrochemtest (source_sha256);
CREATE TABLE suggestion (
	id INTEGER NOT NULL, 
	sample_id INTEGER NOT NULL, 
	campaign_id INTEGER NOT NULL, 
	model_version_id INTEGER NOT NULL, 
	acquisition VARCHAR NOT NULL, 
	params_json VARCHAR NOT NULL, 
	seed INTEGER NOT NULL, 
	rank INTEGER NOT NULL, 
	predicted FLOAT NOT NULL, 
	predicted_std FLOAT NOT NULL, 
	acq_value FLOAT NOT NULL, 
	objectives_json VARCHAR NOT NULL, 
	nearest_formula VARCHAR NOT NULL, 
	nearest_distance FLOAT NOT NULL, 
	domain VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(sample_id) REFERENCES sample (id), 
	FOREIGN KEY(campaign_id) REFERENCES campaign (id), 
	FOREIGN KEY(model_version_id) REFERENCES modelversion (id)
);
CREATE INDEX ix_suggestion_campaign_id ON suggestion (campaign_id);
CREATE UNIQUE INDEX ix_suggestion_sample_id ON suggestion (sample_id);
CREATE TABLE profile (
	id INTEGER NOT NULL, 
	test_id INTEGER NOT NULL, 
	cycle INTEGER NOT NULL, 
	voltage BLOB NOT NULL, 
	capacity_curve BLOB NOT NULL, 
	dqdv BLOB NOT NULL, 
	capacity FLOAT NOT NULL, 
	average_voltage FLOAT NOT NULL, 
	energy FLOAT NOT NULL, 
	raw_voltage BLOB, 
	raw_capacity BLOB, 
	PRIMARY KEY (id), 
	UNIQUE (test_id, cycle), 
	FOREIGN KEY(test_id) REFERENCES electrochemtest (id)
);
CREATE INDEX ix_profile_test_id ON profile (test_id);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
