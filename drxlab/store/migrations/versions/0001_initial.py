"""Schema version 1: the first released experiment store.

Frozen: existing stores created by drxlab 0.1 (``SQLModel.metadata.create_all``) have exactly
these tables; they are stamped with this revision and upgraded from here. Never edit it — add
a new revision instead.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec_text", sa.String(), nullable=False),
        sa.Column("spec_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "revision"),
    )
    op.create_index("ix_campaign_name", "campaign", ["name"], unique=False)
    op.create_index("ix_campaign_spec_hash", "campaign", ["spec_hash"], unique=False)
    op.create_table(
        "material",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("formula", sa.String(), nullable=False),
        sa.Column("amounts_json", sa.String(), nullable=False),
        sa.Column("oxidation_json", sa.String(), nullable=False),
        sa.Column("n_metals", sa.Integer(), nullable=False),
        sa.Column("klass", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_material_formula", "material", ["formula"], unique=True)
    op.create_index("ix_material_klass", "material", ["klass"], unique=False)
    op.create_table(
        "sourcefile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sourcefile_sha256", "sourcefile", ["sha256"], unique=True)
    op.create_table(
        "modelversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("n_members", sa.Integer(), nullable=False),
        sa.Column("config_json", sa.String(), nullable=False),
        sa.Column("training_json", sa.String(), nullable=False),
        sa.Column("metrics_json", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["modelversion.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_modelversion_sha256", "modelversion", ["sha256"], unique=True)
    op.create_table(
        "currentmodel",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["modelversion.id"]),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=True),
        sa.Column("notes", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["material_id"], ["material.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sample_campaign_id", "sample", ["campaign_id"], unique=False)
    op.create_index("ix_sample_material_id", "sample", ["material_id"], unique=False)
    op.create_index("ix_sample_status", "sample", ["status"], unique=False)
    op.create_table(
        "electrochemtest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("v_low", sa.Float(), nullable=False),
        sa.Column("v_high", sa.Float(), nullable=False),
        sa.Column("active_mass", sa.Float(), nullable=True),
        sa.Column("electrode_mass", sa.Float(), nullable=True),
        sa.Column("source_file", sa.String(), nullable=False),
        sa.Column("source_sha256", sa.String(), nullable=False),
        sa.Column("instrument", sa.String(), nullable=False),
        sa.Column("virtual", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sample_id"], ["sample.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_electrochemtest_sample_id", "electrochemtest", ["sample_id"], unique=False)
    op.create_index("ix_electrochemtest_source_sha256", "electrochemtest", ["source_sha256"], unique=False)
    op.create_table(
        "profile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("voltage", sa.LargeBinary(), nullable=False),
        sa.Column("capacity_curve", sa.LargeBinary(), nullable=False),
        sa.Column("dqdv", sa.LargeBinary(), nullable=False),
        sa.Column("capacity", sa.Float(), nullable=False),
        sa.Column("average_voltage", sa.Float(), nullable=False),
        sa.Column("energy", sa.Float(), nullable=False),
        sa.Column("raw_voltage", sa.LargeBinary(), nullable=True),
        sa.Column("raw_capacity", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["test_id"], ["electrochemtest.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("test_id", "cycle"),
    )
    op.create_index("ix_profile_test_id", "profile", ["test_id"], unique=False)
    op.create_table(
        "suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("acquisition", sa.String(), nullable=False),
        sa.Column("params_json", sa.String(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("predicted", sa.Float(), nullable=False),
        sa.Column("predicted_std", sa.Float(), nullable=False),
        sa.Column("acq_value", sa.Float(), nullable=False),
        sa.Column("objectives_json", sa.String(), nullable=False),
        sa.Column("nearest_formula", sa.String(), nullable=False),
        sa.Column("nearest_distance", sa.Float(), nullable=False),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["model_version_id"], ["modelversion.id"]),
        sa.ForeignKeyConstraint(["sample_id"], ["sample.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_suggestion_campaign_id", "suggestion", ["campaign_id"], unique=False)
    op.create_index("ix_suggestion_sample_id", "suggestion", ["sample_id"], unique=True)
    op.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    for table in (
        "suggestion",
        "profile",
        "electrochemtest",
        "sample",
        "currentmodel",
        "modelversion",
        "sourcefile",
        "material",
        "campaign",
        "meta",
    ):
        op.drop_table(table)
