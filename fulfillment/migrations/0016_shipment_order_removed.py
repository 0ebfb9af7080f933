"""The shipment's single order column goes (its orders are now many, copied in 0015); patient is required; the history
triggers are made again for the new columns."""

import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fulfillment', '0015_shipment_many_orders'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='shipment',
            name='order',
        ),
        migrations.RemoveField(
            model_name='shipmenthistory',
            name='order',
        ),
        migrations.AlterField(
            model_name='shipment',
            name='patient',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.patient'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='shipment',
            trigger=pgtrigger.compiler.Trigger(name='insert_insert', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "fulfillment_shipmenthistory" ("carrier", "cold_pack", "delivered_at", "estimated_delivery_date", "id", "last_polled_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "public_id", "service", "shipped_at", "shipped_by_id", "status", "tracking_number") VALUES (NEW."carrier", NEW."cold_pack", NEW."delivered_at", NEW."estimated_delivery_date", NEW."id", NEW."last_polled_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, NOW(), \'insert\', NEW."id", NEW."public_id", NEW."service", NEW."shipped_at", NEW."shipped_by_id", NEW."status", NEW."tracking_number"); RETURN NULL;', hash='d88c92304482527bfda92c0786c877614b750d22', operation='INSERT', pgid='pgtrigger_insert_insert_7f435', table='fulfillment_shipment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='shipment',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."carrier" IS DISTINCT FROM (NEW."carrier") OR OLD."cold_pack" IS DISTINCT FROM (NEW."cold_pack") OR OLD."delivered_at" IS DISTINCT FROM (NEW."delivered_at") OR OLD."estimated_delivery_date" IS DISTINCT FROM (NEW."estimated_delivery_date") OR OLD."id" IS DISTINCT FROM (NEW."id") OR OLD."last_polled_at" IS DISTINCT FROM (NEW."last_polled_at") OR OLD."public_id" IS DISTINCT FROM (NEW."public_id") OR OLD."service" IS DISTINCT FROM (NEW."service") OR OLD."shipped_at" IS DISTINCT FROM (NEW."shipped_at") OR OLD."shipped_by_id" IS DISTINCT FROM (NEW."shipped_by_id") OR OLD."status" IS DISTINCT FROM (NEW."status") OR OLD."tracking_number" IS DISTINCT FROM (NEW."tracking_number"))', func='INSERT INTO "fulfillment_shipmenthistory" ("carrier", "cold_pack", "delivered_at", "estimated_delivery_date", "id", "last_polled_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "public_id", "service", "shipped_at", "shipped_by_id", "status", "tracking_number") VALUES (NEW."carrier", NEW."cold_pack", NEW."delivered_at", NEW."estimated_delivery_date", NEW."id", NEW."last_polled_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, NOW(), \'update\', NEW."id", NEW."public_id", NEW."service", NEW."shipped_at", NEW."shipped_by_id", NEW."status", NEW."tracking_number"); RETURN NULL;', hash='6332ed79b7e2825efd4bcad1b3eb126bb642f14c', operation='UPDATE', pgid='pgtrigger_update_update_a4bb7', table='fulfillment_shipment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='shipment',
            trigger=pgtrigger.compiler.Trigger(name='delete_delete', sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "fulfillment_shipmenthistory" ("carrier", "cold_pack", "delivered_at", "estimated_delivery_date", "id", "last_polled_at", "pgh_context", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "public_id", "service", "shipped_at", "shipped_by_id", "status", "tracking_number") VALUES (OLD."carrier", OLD."cold_pack", OLD."delivered_at", OLD."estimated_delivery_date", OLD."id", OLD."last_polled_at", COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_metadata\', TRUE), \'\'), NULL)::JSONB, COALESCE(NULLIF(CURRENT_SETTING(\'pghistory.context_id\', TRUE), \'\'), NULL)::UUID, NOW(), \'delete\', OLD."id", OLD."public_id", OLD."service", OLD."shipped_at", OLD."shipped_by_id", OLD."status", OLD."tracking_number"); RETURN NULL;', hash='e24e9b406e23e391ec5a590980514e5544627b10', operation='DELETE', pgid='pgtrigger_delete_delete_54b43', table='fulfillment_shipment', when='AFTER')),
        ),
    ]
