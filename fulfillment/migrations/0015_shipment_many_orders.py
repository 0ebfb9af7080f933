"""A shipment is one parcel for one patient at one address: it may hold ready jobs of several of that patient's
orders. The order a shipment held becomes its first (and only) order, and the patient is that order's. Two steps: the
data is copied here, and the old column goes in 0016 (PostgreSQL refuses to alter a table with deferred checks pending)."""

import django.db.models.deletion
import pgtrigger.migrations
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def shipments_carry_their_order(apps, schema_editor):
    Shipment = apps.get_model("fulfillment", "Shipment")
    Order = apps.get_model("orders", "Order")
    Through = Shipment.orders.through
    rows = Shipment.objects.values_list("pk", "order_id").iterator(chunk_size=5000)
    Through.objects.bulk_create((Through(shipment_id=pk, order_id=order_id) for pk, order_id in rows), batch_size=5000)
    # One UPDATE for all rows, not one statement per parcel.
    Shipment.objects.update(patient_id=Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("patient_id")[:1]))


class Migration(migrations.Migration):

    dependencies = [
        ('fulfillment', '0014_job_list_order_index'),
        ('orders', '0011_order_amendments'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='shipment',
            name='insert_insert',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='shipment',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='shipment',
            name='delete_delete',
        ),
        migrations.AddField(
            model_name='shipment',
            name='orders',
            field=models.ManyToManyField(related_name='shipments', to='orders.order'),
        ),
        migrations.AddField(
            model_name='shipment',
            name='patient',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.patient'),
        ),
        # Every existing shipment held the jobs of one order: that order, and its patient, carry across.
        migrations.RunPython(shipments_carry_their_order, migrations.RunPython.noop),
    ]
